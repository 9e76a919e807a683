-- wrk script: POST a fixed JSON login body to the URL given to wrk; counts responses by
-- status and the 429/503 answers that lack Retry-After. From the environment: BENCH_EMAIL
-- and BENCH_PASSWORD; BENCH_LOGIN_FIELD names the body's login field ("email" by default;
-- the FastAPI peer logs in by "username", whose value is then BENCH_USERNAME).
local field = os.getenv("BENCH_LOGIN_FIELD") or "email"
local login = field == "email" and os.getenv("BENCH_EMAIL") or os.getenv("BENCH_USERNAME")
local password = os.getenv("BENCH_PASSWORD")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"' .. field .. '":"' .. login .. '","password":"' .. password .. '"}'

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; no_retry_after = 0 end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if (status == 429 or status == 503) and headers["retry-after"] == nil and headers["Retry-After"] == nil then
    no_retry_after = no_retry_after + 1
  end
end
function done(summary, latency, requests)
  local all, missing = {}, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
    missing = missing + t:get("no_retry_after")
  end
  local line = ""
  for status, n in pairs(all) do line = line .. status .. "=" .. n .. " " end
  io.write("STATUS " .. line .. "\n")
  io.write("NO_RETRY_AFTER " .. missing .. "\n")
  io.write(string.format("OK_PER_SEC %.1f\n", (all[200] or 0) / (summary.duration / 1e6)))
end
