-- wrk script: POST /v1/refresh where every request carries a refresh token that no other
-- request holds, and every token is used once (each refresh rotates the token, and using a
-- rotated one again would be reuse).
--
-- wrk's Lua has no connection id, but none is needed: a connection has at most one request
-- in flight (no pipelining here), and wrk runs response() for a connection before it calls
-- request() for that connection's next request. So each thread keeps a pool of unused
-- tokens: request() takes one out, response() puts the new one (from the 200 body) back.
-- Tokens in the pool + requests in flight = sessions, so with at least one session per
-- connection the pool is never empty while every answer is a 200. A non-200 loses that
-- session's token; if the pool ever runs dry, request() sends a token that cannot exist and
-- the 401 shows up in the STATUS line and as POOL_DRY.
--
-- wrk calls request() once in thread 1 before the run, to check the script, and never sends
-- what it got: that takes one token for good. So give each thread one session more than
-- its connections.
--
-- Arguments (after --): the file of refresh tokens (one per line, one per session:
-- connections + threads of them) and the number of wrk threads (-t), default 1.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counts = {}; reused = 0; dry = 0
  token_file = args[1]
  nthreads = tonumber(args[2] or "1")
  pool = nil
end

local function load_pool()
  pool = {}
  local i = 0
  for line in io.lines(token_file) do
    if line ~= "" then
      if i % nthreads == id then table.insert(pool, line) end
      i = i + 1
    end
  end
end

function request()
  if pool == nil then load_pool() end
  local token = table.remove(pool)
  if token == nil then
    dry = dry + 1
    token = "pool-ran-dry"
  end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then table.insert(pool, token) end
  elseif string.find(body, "refresh_token_reused", 1, true) then
    reused = reused + 1
  end
end

function done(summary, latency, requests)
  local all, reuse, dry_total = {}, 0, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
    reuse = reuse + t:get("reused")
    dry_total = dry_total + t:get("dry")
  end
  local line = ""
  for status, n in pairs(all) do line = line .. status .. "=" .. n .. " " end
  io.write("STATUS " .. line .. "\n")
  io.write("REUSED " .. reuse .. "\n")
  io.write("POOL_DRY " .. dry_total .. "\n")
  io.write(string.format("OK_PER_SEC %.1f\n", (all[200] or 0) / (summary.duration / 1e6)))
end
