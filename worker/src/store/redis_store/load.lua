-- LOAD v2: loads one shop for the owner holding a fencing token, fencing out
-- older owners. Every key is one shop's (one hash slot, so Redis Cluster
-- works); the key layout is in store/keys.rs.
--
-- KEYS[1]  the shop's fence: the highest token that touched the shop, decimal
-- KEYS[2]  the shop record: a ShopRecord (settings, profile, main account)
-- KEYS[3]  the accounts hash: account id -> AccountRecord
-- KEYS[4]  the groups hash: group name -> GroupRecord
-- KEYS[5]  the sessions hash: session id -> SessionRecord, and the field
--          `counters` -> CountersRecord
-- KEYS[6]  the affinity index: a set of buyer ids
-- KEYS[7]  the events stream
-- ARGV[1]  the loader's fencing token, decimal
--
-- Reply: {status, shop, accounts, groups, sessions, buyers, fence, events}
--   status    'ok'; 'missing': there is no shop record; 'fenced': a newer token
--             touched the shop
--   shop      the shop record (nil unless 'ok')
--   accounts, groups, sessions
--             HGETALL of KEYS[3], KEYS[4], KEYS[5]: flat lists of field, value
--             (empty unless 'ok')
--   buyers    SMEMBERS of KEYS[6] (empty unless 'ok')
--   fence     the fence as this script found it, decimal
--   events    the entry id of the shop's last event ('0-0' when it has none;
--             only read when 'ok')
--
-- Only 'ok' writes: it raises the fence to ARGV[1] if lower. A missing shop's
-- fence is left alone (the shop's creation sets it, see commit.lua).
--
-- What is left of the presences, close delays and affinities (keys that expire
-- by themselves) is not read here: the loader asks for their TTLs in one
-- pipeline once this has answered.

local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if fence > token then return {'fenced', false, {}, {}, {}, {}, tostring(fence), '0-0'} end
local shop = redis.call('GET', KEYS[2])
if not shop then return {'missing', false, {}, {}, {}, {}, tostring(fence), '0-0'} end
if fence < token then redis.call('SET', KEYS[1], ARGV[1]) end
local last = redis.call('XREVRANGE', KEYS[7], '+', '-', 'COUNT', 1)[1]
return {'ok', shop, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5]), redis.call('SMEMBERS', KEYS[6]), tostring(fence),
        last and last[1] or '0-0'}
