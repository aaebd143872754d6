package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/splitcast/splitcast/analytics/ingest"
)

// ingestCollector exports the ingester's own counters at scrape time, so
// that the analytics package stays free of Prometheus; the wiring registers
// it on the registry that api serves at /metrics.
type ingestCollector struct {
	src interface{ Stats() ingest.Stats }
}

var (
	descQueueDepth   = prometheus.NewDesc("splitcast_ingest_queue_depth", "Events waiting in memory for the writer.", nil, nil)
	descQueueCap     = prometheus.NewDesc("splitcast_ingest_queue_capacity", "Capacity of the in-memory queue.", nil, nil)
	descSpoolBytes   = prometheus.NewDesc("splitcast_ingest_spool_bytes", "Bytes in the disk spool.", nil, nil)
	descSpoolBatches = prometheus.NewDesc("splitcast_ingest_spool_batches", "Batches in the disk spool waiting for replay.", nil, nil)
	descAccepted     = prometheus.NewDesc("splitcast_events_accepted_total", "Events accepted by the ingest queue.", nil, nil)
	descWritten      = prometheus.NewDesc("splitcast_events_written_total", "Events written to ClickHouse, replays included.", nil, nil)
	descSpooled      = prometheus.NewDesc("splitcast_events_spooled_total", "Events appended to the disk spool.", nil, nil)
	descReplayed     = prometheus.NewDesc("splitcast_events_replayed_total", "Events written to ClickHouse from the spool.", nil, nil)
	descFailures     = prometheus.NewDesc("splitcast_clickhouse_write_failures_total", "Failed or timed-out ClickHouse writes.", nil, nil)
	descRejected     = prometheus.NewDesc("splitcast_events_rejected_total", "Events refused because queue and spool were full.", nil, nil)
	descLost         = prometheus.NewDesc("splitcast_events_lost_total", "Accepted events neither written nor spooled at shutdown.", nil, nil)
	descDeadLettered = prometheus.NewDesc("splitcast_events_dead_lettered_total", "Events ClickHouse refused for good, moved to the spool folder's deadletter.ndjson.", nil, nil)
	descCorrupt      = prometheus.NewDesc("splitcast_spool_corrupt_records_total", "Spool records skipped for a bad checksum.", nil, nil)
	descHealthy      = prometheus.NewDesc("splitcast_clickhouse_healthy", "1 while the last ClickHouse write succeeded.", nil, nil)
)

func (c *ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueCap, descSpoolBytes, descSpoolBatches, descAccepted,
		descWritten, descSpooled, descReplayed, descFailures, descRejected, descLost, descDeadLettered, descCorrupt, descHealthy} {
		ch <- d
	}
}

func (c *ingestCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descQueueDepth, float64(st.QueueDepth))
	gauge(descQueueCap, float64(st.QueueCapacity))
	gauge(descSpoolBytes, float64(st.SpoolBytes))
	gauge(descSpoolBatches, float64(st.SpoolBatches))
	counter(descAccepted, st.EventsAccepted)
	counter(descWritten, st.EventsWritten)
	counter(descSpooled, st.EventsSpooled)
	counter(descReplayed, st.EventsReplayed)
	counter(descFailures, st.WriteFailures)
	counter(descRejected, st.Rejected)
	counter(descLost, st.EventsLost)
	counter(descDeadLettered, st.DeadLettered)
	counter(descCorrupt, st.CorruptRecords)
	healthy := 0.0
	if st.SinkHealthy {
		healthy = 1
	}
	gauge(descHealthy, healthy)
}
