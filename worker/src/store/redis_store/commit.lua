-- COMMIT v5: one group commit of one or more calls' writes to one shop, if the
-- shop's fence still allows the committer's token. Every key is one shop's (one
-- hash slot, so Redis Cluster works); the key layout is in store/keys.rs.
--
-- KEYS[1]     the shop's fence: the highest token that touched it, decimal
-- KEYS[2..]   one key per step of the plan, in the plan's order
-- ARGV[1]     the committer's fencing token, decimal
-- ARGV[2]     the plan, a byte string: '1' for a creation (the shop must not
--             exist yet) or '0', then one byte per step, followed for the steps
--             that take a list by the number of its items (one byte, 1..=255)
-- ARGV[3..]   the steps' values, in the plan's order:
--
--   step  does                                      values
--   q     remembers a Route's answer (SET NX EX)    a RouteRecord
--   s     SET                                       the value
--   p     SET PX                                    the value, milliseconds
--   d     DEL                                       (none)
--   h n   HSET                                      n (field, value) pairs
--   x n   HDEL                                      n fields
--   a n   SADD                                      n members
--   r n   SREM                                      n members
--   e n   XADD MAXLEN ~ EVENTS_KEPT, n events       n (entry id, event) pairs
--
-- The q steps come first, then the e steps (the shop's events, numbered by the
-- committer: entry id '<sequence>-0', field 'e'). A creation's first step after
-- them writes the shop record: that key is the one checked for the shop already
-- existing.
--
-- Reply:
--   1                       committed: the fence is set to ARGV[1] if lower or
--                           missing (a creation), and every step ran
--   {'fenced', fence}       a newer token touched the shop (fence: decimal)
--   {'exists'}              a creation, of a shop that exists
--   {'missing'}             an update, of a shop that is gone (no fence key)
--   {'replay', i, record}   the i-th q step (from 0; i is decimal) found its
--                           request id answered before, that answer being
--                           record; the answers stored by the q steps before
--                           it are deleted again (a batch never holds one
--                           request id twice: the engine answers a repeat from
--                           memory, and a replay is not kept)
--   {'sequence', error}     the first event's entry id is not above the
--                           stream's last: the committer's numbering is behind
--                           what is stored (it reloads the shop); the answers
--                           stored by the q steps are deleted again (so are
--                           they before any other XADD error, replied as is)
-- Every reply but 1 leaves the keys as they were (a replay sets the fence to
-- the value it holds). An unknown step (a bug of the
-- caller) is an error reply, after the steps before it ran.
--
-- REQUEST_RETENTION_SECONDS and EVENTS_KEPT are not Lua: the number of seconds
-- a remembered answer is kept and the number of events a shop's stream keeps
-- are put in their place before the script is loaded (scripts.rs).

local raw = redis.call('GET', KEYS[1])
local fence = tonumber(raw or '0')
local token = tonumber(ARGV[1])
if fence > token then return {'fenced', tostring(fence)} end
local plan = ARGV[2]
local byte = string.byte
if byte(plan, 1) == 49 then
  if redis.call('EXISTS', KEYS[string.find(plan, '[^qe]', 2) or #plan + 1]) == 1 then
    return {'exists'}
  end
elseif not raw then
  return {'missing'}
end
local p, k, a = 2, 2, 3
local step = byte(plan, p)
while step == 113 do
  if not redis.call('SET', KEYS[k], ARGV[a], 'NX', 'EX', REQUEST_RETENTION_SECONDS) then
    local earlier = redis.call('GET', KEYS[k])
    for j = 2, k - 1 do redis.call('DEL', KEYS[j]) end
    -- A write that changes nothing, so that this script is replicated and a
    -- WAIT after it covers the answer replayed (stored by an earlier commit
    -- whose own WAIT may have failed).
    if raw then redis.call('SET', KEYS[1], raw) end
    return {'replay', tostring(k - 2), earlier}
  end
  p, k, a = p + 1, k + 1, a + 1
  step = byte(plan, p)
end
-- The events' ids rise within a commit, so only the first XADD can be refused
-- (an id not above the stream's last), before anything else is written.
local last_q = k - 1
local first_event = true
while step == 101 do
  local n = byte(plan, p + 1)
  for i = 1, n do
    local added = redis.pcall('XADD', KEYS[k], 'MAXLEN', '~', EVENTS_KEPT, ARGV[a], 'e', ARGV[a + 1])
    if type(added) == 'table' and added.err then
      for j = 2, last_q do redis.call('DEL', KEYS[j]) end
      -- Not a numbering behind the stream (an ACL refusal, say): the error as is.
      if not first_event or not string.find(added.err, 'equal or smaller', 1, true) then
        return redis.error_reply(added.err)
      end
      return {'sequence', added.err}
    end
    first_event = false
    a = a + 2
  end
  p, k = p + 2, k + 1
  step = byte(plan, p)
end
if fence < token or not raw then redis.call('SET', KEYS[1], ARGV[1]) end
while step do
  if step == 112 then
    redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
    a, p = a + 2, p + 1
  elseif step == 104 then
    local n = 2 * byte(plan, p + 1)
    redis.call('HSET', KEYS[k], unpack(ARGV, a, a + n - 1))
    a, p = a + n, p + 2
  elseif step == 100 then
    redis.call('DEL', KEYS[k])
    p = p + 1
  elseif step == 115 then
    redis.call('SET', KEYS[k], ARGV[a])
    a, p = a + 1, p + 1
  else
    local n = byte(plan, p + 1)
    local command
    if step == 120 then command = 'HDEL' elseif step == 97 then command = 'SADD'
    elseif step == 114 then command = 'SREM' else return redis.error_reply('unknown step ' .. step) end
    redis.call(command, KEYS[k], unpack(ARGV, a, a + n - 1))
    a, p = a + n, p + 2
  end
  k = k + 1
  step = byte(plan, p)
end
return 1
