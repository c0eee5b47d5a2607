package fleet

import "github.com/redis/go-redis/v9"

// The Lua scripts run atomically on the Redis server. Every key a script
// touches is passed in KEYS and shares the target's hash tag, so they work
// on Redis Cluster too. TIME in a script that writes needs effects
// replication: the default since Redis 5 and in every Valkey.

// publishScript records one replica's transition of a target and announces
// it. KEYS[1] is the target's state hash, KEYS[2] its shared failure count.
// ARGV: replica, state, open_ms (cooldown left), stage, reason, status,
// channel, payload (the message's JSON without its generation), ttl_ms.
// It increments the target's generation, stores the transition with the
// server's time, clears the shared count when the breaker opened or closed
// (a new counting period starts), publishes "<gen> <payload>", and returns
// the generation.
var publishScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'replica', ARGV[1], 'state', ARGV[2], 'open_ms', ARGV[3],
  'stage', ARGV[4], 'reason', ARGV[5], 'status', ARGV[6], 'at_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[9])
if ARGV[2] == 'open' or ARGV[2] == 'closed' then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[7], gen .. ' ' .. ARGV[8])
return gen
`)

// readScript returns a target's stored transition and the server's time
// in milliseconds: {gen, replica, state, open_ms, stage, reason, status,
// at_ms, now_ms}; gen is 0 when none is stored. KEYS[1] is the state hash.
var readScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'gen', 'replica', 'state', 'open_ms', 'stage', 'reason', 'status', 'at_ms')
return {v[1] or '0', v[2] or '', v[3] or '', v[4] or '0', v[5] or '0', v[6] or '', v[7] or '0', v[8] or '0', tostring(now)}
`)

// countScript counts one outcome across the fleet. KEYS[1] is the target's
// failure count, KEYS[2] the error-rate bucket of now, KEYS[3..] the other
// buckets of the window. ARGV: 's' (success) or 'f' (failure), the bucket
// ttl in ms, '1' when the error-rate window is counted, the count's ttl in
// ms. It returns {consecutive failures, requests in the window, failures in
// the window}.
var countScript = redis.NewScript(`
local c = 0
if ARGV[1] == 's' then
  redis.call('HSET', KEYS[1], 'c', 0)
else
  c = redis.call('HINCRBY', KEYS[1], 'c', 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local r, f = 0, 0
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[2], 'r', 1)
  if ARGV[1] == 'f' then redis.call('HINCRBY', KEYS[2], 'f', 1) end
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  for i = 2, #KEYS do
    local v = redis.call('HMGET', KEYS[i], 'r', 'f')
    r = r + (tonumber(v[1]) or 0)
    f = f + (tonumber(v[2]) or 0)
  end
end
return {c, r, f}
`)

// claimScript takes or renews a target's probe lease. KEYS[1] is the
// lease. ARGV: replica, lease ms. It returns {1, lease ms} when this
// replica holds the lease now, or {0, ms left} of another's.
var claimScript = redis.NewScript(`
local h = redis.call('GET', KEYS[1])
if (not h) or h == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, tonumber(ARGV[2])}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {0, ttl}
`)

// releaseScript gives a lease back if this replica holds it. KEYS[1] is
// the lease; ARGV[1] the replica. It returns 1 when it deleted it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
