-- bench/email.lua: wrk script of bench/email.sh: counts the statuses of
-- every run (wrk's own "Non-2xx or 3xx responses" counts only >= 400),
-- and with BENCH_EMAIL_SEND=1 in the environment makes the requests of
-- POST /api/v1/emails/send.
--
-- Without it, wrk sends the request of its command line.  With it,
-- every request queues one email to a new recipient, unique across
-- threads and runs:
--   s<run>-<thread>-<counter>@bench.example
-- where <run> is random per wrk start and <thread> is wrk's thread
-- number.  Text only, the same subject and body size in every request
-- (bench/email.sh's pgbench baseline inserts the same).
--
-- The X-API-Key header comes from the command line (-H).  done() prints
-- one line "statuses: 202=N ..." with the HTTP statuses of all threads.

local send = os.getenv("BENCH_EMAIL_SEND") == "1"

if send then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

local threads = {}
local next_id = 1

function setup(thread)
    thread:set("id", next_id)
    threads[#threads + 1] = thread
    next_id = next_id + 1
end

function init(args)
    math.randomseed(os.time() * 1000 + id * 7919
                    + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0)
                      % 100000)
    run = string.format("%08x", math.random(0, 0x7fffffff))
    counter = 0
    statuses = {}
end

local function send_request()
    counter = counter + 1
    return wrk.format(nil, nil, nil, string.format(
        '{"to":"s%s-%d-%d@bench.example","subject":"Bench send %d",'
        .. '"text":"Hello,\\n\\nthis is a load test of POST /emails/send.'
        .. ' It is queued and never sent.\\n\\n-- \\nbench/email.sh\\n"}',
        run, id, counter, counter))
end

if send then
    request = send_request
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
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
    io.write("statuses: ", table.concat(parts, " "), "\n")
end
