package clickhouse_test

import (
	"os"
	"testing"

	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
)

// env is the ClickHouse that every test of this package talks to.
var env *chtest.Env

func TestMain(m *testing.M) { os.Exit(chtest.Main(m, &env)) }
