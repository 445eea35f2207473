-- bench/perf_get.lua: GET /api/v1/contacts/<id> of a random seeded
-- contact (bench/perf.sh).  The contacts are bbbbbbbb-0000-4000-8000-<n as
-- 12 hex digits>, n = 1 .. BENCH_ROWS.
--
-- Each thread formats BENCH_REQUEST_POOL (20000) random requests once, in
-- init(), and request() hands them out in turn: the load generator's CPU
-- a request is then wrk's own (pgbench's client formats nothing in Lua
-- either), not a string.format() and a wrk.format() each time.

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000
local size = tonumber(os.getenv("BENCH_REQUEST_POOL") or "20000") or 20000
local reqs, i = {}, 0

function init(args)
    math.randomseed(os.time() * 1000 + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
    for k = 1, size do
        reqs[k] = wrk.format("GET", string.format(
            "/api/v1/contacts/bbbbbbbb-0000-4000-8000-%012x",
            math.random(1, rows)))
    end
end

function request()
    i = i % size + 1
    return reqs[i]
end
