-- GET every path of the file LOADTEST_PATHS in turn, each thread from its
-- own offset: pixels (/o/{token}.gif) and tracked links (/c/{token}) of many
-- units rather than one. wrk follows no redirect.
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("LOADTEST_PATHS")) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  i = ((tid or 1) * 7919) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
