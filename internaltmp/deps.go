package deps
import (
 _ "github.com/gofiber/fiber/v2"
 _ "github.com/ClickHouse/clickhouse-go/v2"
 _ "gonum.org/v1/gonum/stat/distuv"
 _ "github.com/spaolacci/murmur3"
 _ "github.com/prometheus/client_golang/prometheus"
)
