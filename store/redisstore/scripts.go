package redisstore

import "github.com/redis/rueidis"

// Every script touches one key, so each runs on the node that owns it in a
// Cluster. PUBLISH names a channel, not a key, and is allowed there.
//
// Stored values are 16 lowercase hex digits of version, then the data.

// casScript: KEYS[1] key; ARGV[1] expected version ("" when absent);
// ARGV[2] the new stored value; ARGV[3] TTL in ms; ARGV[4] channel to
// publish ARGV[5] on ("" for none). Returns 1, or 0 on conflict.
var casScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
local v = ''
if cur then v = string.sub(cur, 1, 16) end
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
`)

// delScript: KEYS[1] key; ARGV[1] channel ("" for none); ARGV[2] message.
// Returns the deleted value, or false.
var delScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  redis.call('DEL', KEYS[1])
  if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
end
return cur
`)

// indexAddScript: KEYS[1] index; ARGV[1] TTL in ms; ARGV[2..] score,
// member pairs. Extends the index's TTL, never shortens it.
var indexAddScript = rueidis.NewLuaScript(`
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i+1])
end
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

// lockScript: KEYS[1] lock; ARGV[1] owner; ARGV[2] TTL in ms; ARGV[3]
// "acquire", "renew" or "release". Returns 1 when done for the owner, 0
// when the owner does not hold it (another does, or its lease lapsed).
var lockScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'acquire' then
  if cur and cur ~= ARGV[1] then return 0 end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if ARGV[3] == 'renew' then
  if cur ~= ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)
