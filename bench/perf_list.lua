-- bench/perf_list.lua: a page of 50 contacts at a random depth
-- (bench/perf.sh): created_before= a random seeded contact's time; the
-- seeded contact n was created at 2026-01-01T00:00:00Z - n seconds.
-- Requests formatted once per thread, as in bench/perf_get.lua.

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000
local size = tonumber(os.getenv("BENCH_REQUEST_POOL") or "20000") or 20000
local base = 1767225600                 -- 2026-01-01T00:00:00Z
local reqs, i = {}, 0

function init(args)
    math.randomseed(os.time() * 1000 + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
    for k = 1, size do
        local n = math.random(1, math.max(1, rows - 50))
        reqs[k] = wrk.format("GET", "/api/v1/contacts?limit=50&created_before="
                             .. os.date("!%Y-%m-%dT%H:%M:%SZ", base - n))
    end
end

function request()
    i = i % size + 1
    return reqs[i]
end
