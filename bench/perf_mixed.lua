-- bench/perf_mixed.lua: the mixed requests of bench/perf.sh's "rss" run
-- (worker RSS over 1M requests), drawn at random in these shares:
--
--   36%    GET /api/v1/contacts/<a seeded contact>
--   20%    GET /api/v1/contacts?limit=50&created_before=<a random depth>
--   10%    POST /api/v1/contacts (a new email, as bench/create.lua)
--   10%    PATCH /api/v1/contacts/<a seeded contact> {"title": ...}
--    0.5%  GET /api/v1/search?q=<word>&types=contacts&limit=10
--    0.5%  GET /api/v1/contacts?q=<word>&limit=20 (search on a list)
--   11.5%  GET /api/v1/contacts/<an id that is not there>: 404
--   11.5%  GET /api/v1/contacts/<a seeded contact> with a wrong key: 401
--
-- The key comes from BENCH_KEY (not -H: the 401s send another), the
-- seeded contacts are bbbbbbbb-0000-4000-8000-<n as 12 hex digits>,
-- n = 1 .. BENCH_ROWS, created at 2026-01-01T00:00:00Z - n seconds.
-- The searches look for the last name of one of the 1000 contacts that
-- bench/perf.sh seeds for them: the digits of n * 2654435761 mod 10^8
-- as letters that no other contact has (a search for "First<n>" would
-- match every seeded contact's trigrams and read them all: ~0.5 s).  A
-- search still costs PostgreSQL some 8 ms of CPU, 50 times a GET: at 2%
-- of the mix searches took two thirds of its CPU and queued past the
-- workspace's share of the expensive pool (429).
-- done() prints "statuses: 200=N 201=N ..." of all threads.

local rows = tonumber(os.getenv("BENCH_ROWS") or "100000") or 100000
local key = os.getenv("BENCH_KEY") or ""
local base = 1767225600                 -- 2026-01-01T00:00:00Z

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

function init(args)
    seed()
    run = string.format("%08x", math.random(0, 0x7fffffff))
    counter = 0
    auth = { ["X-API-Key"] = key }
    json = { ["X-API-Key"] = key, ["Content-Type"] = "application/json" }
    wrong = { ["X-API-Key"] = "crm_perf_not_a_key_0000000000000000" }
end

local letters = "djkoquvwyz"

local function word()
    local d = string.format("%08d",
                            (math.random(1, 1000) * 2654435761) % 100000000)
    return (d:gsub("%d", function(c)
        return letters:sub(tonumber(c) + 1, tonumber(c) + 1)
    end))
end

local function seeded()
    return string.format("/api/v1/contacts/bbbbbbbb-0000-4000-8000-%012x",
                         math.random(1, rows))
end

function request()
    local r = math.random(1, 1000)

    if r <= 360 then
        return wrk.format("GET", seeded(), auth)

    elseif r <= 560 then
        return wrk.format("GET", "/api/v1/contacts?limit=50&created_before="
                          .. os.date("!%Y-%m-%dT%H:%M:%SZ",
                                     base - math.random(1, rows)), auth)

    elseif r <= 660 then
        counter = counter + 1
        return wrk.format("POST", "/api/v1/contacts", json, string.format(
            '{"firstName":"Bench","lastName":"Mixed %d",'
            .. '"email":"m%s-%d-%d@bench.example","title":"Load test",'
            .. '"tags":["bench","mixed"],"customFields":{"n":%d}}',
            counter, run, id, counter, counter))

    elseif r <= 760 then
        return wrk.format("PATCH", seeded(), json, string.format(
            '{"title":"Title %d"}', math.random(1, 1000)))

    elseif r <= 765 then
        return wrk.format("GET", "/api/v1/search?q=" .. word()
                          .. "&types=contacts&limit=10", auth)

    elseif r <= 770 then
        return wrk.format("GET", "/api/v1/contacts?q=" .. word()
                          .. "&limit=20", auth)

    elseif r <= 885 then
        return wrk.format("GET", string.format(
            "/api/v1/contacts/bbbbbbbb-0000-4000-9000-%012x",
            math.random(1, rows)), auth)
    end

    return wrk.format("GET", seeded(), wrong)
end
