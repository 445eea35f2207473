-- bench/fault.lua: wrk script of bench/fault.sh.
--
-- Counts what came back, per HTTP status and across threads, and prints
-- at the end (done()):
--   statuses: 200=N 503=N ...
--   closes: N        responses that carried "Connection: close" (each
--                    costs the client a new connection)
--
-- Knobs, from the environment:
--   FAULT_JUNK=1        every request carries a new random API key
--                       "crmk_<40 hex digits>" (a well-formed key that
--                       no database knows) instead of the -H ones
--   FAULT_PATHS=a|b|... request these paths in turn (each thread starts
--                       at its own one) instead of the URL's
--   FAULT_BACKOFF=1     a client that honours Retry-After: for every 429
--                       or 503 with "Retry-After: S", one of the
--                       thread's next requests waits S seconds (wrk
--                       calls delay() before a connection sends)
--   FAULT_REQUESTS=N    each thread stops after N responses, and then
--                       appends a line to FAULT_DONE_FILE; wrk itself
--                       runs on for its -d, unless it gets SIGINT (it
--                       prints its figures then): bench/fault.sh sends
--                       it once every thread has written its line.
--                       wrk -t2 and N=10000 make 20,000 requests

local junk = os.getenv("FAULT_JUNK") == "1"
local limit = tonumber(os.getenv("FAULT_REQUESTS") or "0") or 0
local done_file = os.getenv("FAULT_DONE_FILE")
local backoff = os.getenv("FAULT_BACKOFF") == "1"
local paths = {}
for p in string.gmatch(os.getenv("FAULT_PATHS") or "", "[^|]+") do
    paths[#paths + 1] = p
end

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "statuses.lua")

function init(args)
    seed()
    closes = 0
    responses = 0
    waits = {}
    turn = id
end

local hex = "0123456789abcdef"

local function junk_key()
    local t = {}
    for i = 1, 40 do
        local d = math.random(1, 16)
        t[i] = hex:sub(d, d)
    end
    return "crmk_" .. table.concat(t)
end

function request()
    local path = nil
    if #paths > 0 then
        path = paths[turn % #paths + 1]
        turn = turn + 1
    end
    if junk then
        -- a table of headers replaces wrk.headers (and -H) entirely;
        -- wrk.format() adds Host
        return wrk.format(nil, path, { ["X-API-Key"] = junk_key() }, nil)
    end
    return wrk.format(nil, path, nil, nil)
end

if backoff then
    function delay()
        local n = #waits
        if n == 0 then
            return 0
        end
        local ms = waits[n]
        waits[n] = nil
        return ms
    end
end

function response(status, headers, body)
    count(status)
    if backoff and (status == 429 or status == 503) then
        local ra = tonumber(headers["Retry-After"] or "")
        if ra ~= nil and ra > 0 then
            waits[#waits + 1] = ra * 1000
        end
    end
    local c = headers["Connection"] or headers["connection"]
    if c ~= nil and c:lower() == "close" then
        closes = closes + 1
    end
    responses = responses + 1
    if limit > 0 and responses == limit then
        if done_file ~= nil then
            local f = io.open(done_file, "a")
            if f ~= nil then
                f:write("thread ", id, " done\n")
                f:close()
            end
        end
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local all_closes = 0
    for _, thread in ipairs(threads) do
        all_closes = all_closes + (thread:get("closes") or 0)
    end
    io.write(statuses_line(), "\n")
    io.write("closes: ", all_closes, "\n")
end
