-- Shared by every wrk script of cmd/loadtest (prepended to each): the one
-- line the driver reads, with the figures of the summary table. wrk counts
-- an answer of 400 or more in summary.errors.status: those, and socket
-- errors, are the scenario's errors.
function done(summary, latency, requests)
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, socket))
end
