-- bench/perf_get.lua: GET /api/v1/contacts/<id> of a random seeded
-- contact (bench/perf.sh).  The contacts are bbbbbbbb-0000-4000-8000-<n as
-- 12 hex digits>, n = 1 .. BENCH_ROWS.

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000

function init(args)
    math.randomseed(os.time() * 1000 + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
    local n = math.random(1, rows)
    return wrk.format("GET", string.format(
        "/api/v1/contacts/bbbbbbbb-0000-4000-8000-%012x", n))
end
