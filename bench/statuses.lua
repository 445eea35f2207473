-- bench/statuses.lua: what the wrk scripts of bench/ (create.lua,
-- email.lua, fault.lua, perf_mixed.lua) share, loaded by each with
--
--   dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")
--
-- setup() numbers the threads (the global "id" of each thread's state)
-- and keeps them; seed() seeds math.random per thread; response() counts
-- the HTTP statuses of a thread; done() prints one line
--   statuses: 200=N 201=N ...
-- with those of all threads (wrk's own "Non-2xx or 3xx responses" counts
-- only >= 400).  A script with more to count defines its own response()
-- and done() after loading this, and calls count() and statuses_line();
-- one that counts nothing sets them to nil (with a response() function
-- wrk hands every answer's headers and body to Lua: the load
-- generator's cost, not the server's).
--
-- pool(make), from init(), makes BENCH_REQUEST_POOL (20000) requests
-- once per thread, and pooled(), the script's request(), hands them out
-- in turn: the load generator's CPU a request is then wrk's own, not a
-- string.format() and a wrk.format() each time (pgbench's client formats
-- nothing in Lua either).  request must be a function when the script is
-- loaded, or wrk sends one request over and over: "request = pooled".

threads = {}

local next_id = 1

function setup(thread)
    thread:set("id", next_id)
    threads[#threads + 1] = thread
    next_id = next_id + 1
end

-- os.time() alone is shared by all threads: mix in the thread id and the
-- address of a fresh table
function seed()
    local addr = tonumber(tostring({}):match("0x(%x+)"), 16) or 0
    math.randomseed(os.time() * 1000 + id * 7919 + addr % 100000)
    statuses = {}
end

local reqs, size, at = {}, 0, 0

function pool(make)
    size = tonumber(os.getenv("BENCH_REQUEST_POOL") or "20000") or 20000
    for k = 1, size do
        reqs[k] = make()
    end
end

function pooled()
    at = at % size + 1
    return reqs[at]
end

function count(status)
    statuses[status] = (statuses[status] or 0) + 1
end

function response(status, headers, body)
    count(status)
end

-- "statuses: 200=N 201=N ..." of all threads, statuses in order
function statuses_line()
    local total = {}
    for _, thread in ipairs(threads) do
        local s = thread:get("statuses") or {}
        for status, n in pairs(s) do
            total[status] = (total[status] or 0) + n
        end
    end
    local keys = {}
    for status in pairs(total) do keys[#keys + 1] = status end
    table.sort(keys)
    local parts = {}
    for _, status in ipairs(keys) do
        parts[#parts + 1] = string.format("%d=%d", status, total[status])
    end
    return "statuses: " .. table.concat(parts, " ")
end

function done(summary, latency, requests)
    io.write(statuses_line(), "\n")
end
