-- bench/perf_get.lua: GET /api/v1/contacts/<id> of a random seeded
-- contact (bench/perf.sh).  The contacts are bbbbbbbb-0000-4000-8000-<n as
-- 12 hex digits>, n = 1 .. BENCH_ROWS.  The requests are made once per
-- thread (pool() and pooled() of bench/statuses.lua); no statuses are
-- counted (bench/perf.sh reads wrk's own count of non-2xx answers).

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

response = nil
done = nil

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000

function init(args)
    seed()
    pool(function()
        return wrk.format("GET", string.format(
            "/api/v1/contacts/bbbbbbbb-0000-4000-8000-%012x",
            math.random(1, rows)))
    end)
end

request = pooled
