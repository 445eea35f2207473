-- bench/create.lua: wrk script for POST /api/v1/contacts (bench/run.sh).
--
-- Every request carries a new email, unique across threads and runs:
--   c<run>-<thread>-<counter>-<random>@bench.example
-- where <run> is random per wrk start (so a second run against the same
-- database never collides with the first), <thread> is wrk's thread
-- number and <counter> counts this thread's requests.  A duplicate would
-- be a 409, which bench/run.sh reports as non-2xx.
--
-- With BENCH_BATCH=N in the environment (N > 0) every request is instead
-- a POST /api/v1/contacts/bulk body of N such creates, "atomic": false
-- (bench/scale.sh's "bulk" run: BENCH_BATCH=100).
--
-- The X-API-Key header comes from the command line (-H); wrk.format()
-- merges it with the Content-Type set here.  done() prints one line
-- "statuses: 201=N ..." with the HTTP statuses of all threads.
--
-- BENCH_STATUSES=0 leaves the statuses uncounted (bench/perf.sh, which
-- reads wrk's own count of non-2xx answers; why: bench/statuses.lua).

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

if os.getenv("BENCH_STATUSES") == "0" then
    response = nil
    done = nil
end

function init(args)
    seed()
    run = string.format("%08x", math.random(0, 0x7fffffff))
    counter = 0
end

local batch = tonumber(os.getenv("BENCH_BATCH") or "0") or 0

-- one contact, with a new email
local function contact()
    counter = counter + 1
    return string.format(
        '{"firstName":"Bench","lastName":"Create %d",'
        .. '"email":"c%s-%d-%d-%d@bench.example",'
        .. '"title":"Load test","tags":["bench","create"],'
        .. '"customFields":{"thread":%d,"n":%d}}',
        counter, run, id, counter, math.random(0, 999999), id, counter)
end

function request()
    if batch <= 0 then
        return wrk.format(nil, nil, nil, contact())
    end
    local ops = {}
    for i = 1, batch do
        ops[i] = '{"method":"create","data":' .. contact() .. '}'
    end
    return wrk.format(nil, nil, nil,
                      '{"operations":[' .. table.concat(ops, ",")
                      .. '],"atomic":false}')
end
