-- bench/perf_list.lua: a page of 50 contacts at a random depth
-- (bench/perf.sh): created_before= a random seeded contact's time; the
-- seeded contact n was created at 2026-01-01T00:00:00Z - n seconds.
-- Requests made once per thread and no statuses counted, as in
-- bench/perf_get.lua.

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

response = nil
done = nil

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000
local base = 1767225600                 -- 2026-01-01T00:00:00Z

function init(args)
    seed()
    pool(function()
        local n = math.random(1, math.max(1, rows - 50))
        return wrk.format("GET", "/api/v1/contacts?limit=50&created_before="
                          .. os.date("!%Y-%m-%dT%H:%M:%SZ", base - n))
    end)
end

request = pooled
