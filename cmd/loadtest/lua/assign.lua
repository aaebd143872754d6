-- POST /v1/assign with a fresh unit id on every request, half of them in the
-- example experiment's pro-trial segment; the same requests go to the
-- baseline (scripts/benchbaseline).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("LOADTEST_SDK_KEY") or "dev-sdk-key")

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  n = 0
  math.randomseed(os.time() + (tid or 0))
end

function request()
  n = n + 1
  local attrs = '{"plan":"free","country":"US"}'
  if n % 2 == 0 then
    attrs = '{"plan":"pro_trial","country":"FR"}'
  end
  local body = string.format(
    '{"experiment":"%s","unit_id":"lt-%d-%d-%d","attributes":%s,"channel":"email"}',
    os.getenv("LOADTEST_EXPERIMENT") or "welcome-email", tid or 0, n, math.random(1, 1000000000), attrs)
  return wrk.format(nil, "/v1/assign", nil, body)
end
