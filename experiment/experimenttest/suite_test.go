package experimenttest_test

import (
	"testing"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestStoreSuite(t *testing.T) {
	experimenttest.RunStoreTests(t, func(*testing.T) experiment.Store { return experimenttest.NewStore() })
}
