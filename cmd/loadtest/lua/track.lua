-- POST /v1/track with batches of LOADTEST_BATCH (100) user events, each an
-- order with four typed properties (number, string, bool, list) and an id
-- no other request of the run uses (run, thread, request, position), so
-- that each accepted event is one more row in user_events.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  n = 0
  batch = tonumber(os.getenv("LOADTEST_BATCH") or "100")
  run = os.getenv("LOADTEST_RUN") or tostring(os.time())
  wrk.method = "POST"
  wrk.path = "/v1/track"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("LOADTEST_SDK_KEY") or "dev-sdk-key")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local parts = {}
  for j = 1, batch do
    parts[j] = string.format(
      '{"id":"%s-%d-%d-%d","unit_id":"u%d","name":"order_completed",' ..
      '"properties":{"total":%d.5,"category":"shoes","gift":false,"tags":["sale","new"]}}',
      run, tid, n, j, (n * batch + j) % 50000, j % 100)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
