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

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

function init(args)
    seed()
    run = string.format("%08x", math.random(0, 0x7fffffff))
    counter = 0
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
