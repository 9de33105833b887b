-- Reserve one request's estimated cost on every account at once, or nothing.
-- tokenway.limits.redis_budgets calls it; the rules are tokenway.limits.budgets's.
--
-- KEYS, per account i (3 each): state hash (fields w: budget window, s: spend, r: the
-- reservations' sum), leases sorted set (member: lease, score: its expiry), estimates
-- hash (lease -> its estimate).
-- ARGV: now (seconds), lease id, lease expiry (seconds), estimate, keep (seconds the
-- state outlives its last use), then per account i: window, budget, floor (the store's
-- spend as the caller knows it).
-- Returns {0} when reserved, or {1 (wait) or 2 (exceeded), account index, spend as text}.

local SLACK = 1e-9
local now, lease, expiry = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local estimate, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = (#KEYS) / 3

-- The account's state for this window: a new window starts at the floor; the leases of
-- processes that died without settling are dropped with their estimates.
local function state(i)
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local window, floor = ARGV[3 + 3 * i], tonumber(ARGV[5 + 3 * i])
  if redis.call('HGET', h, 'w') ~= window then
    redis.call('DEL', h, z, e)
    redis.call('HSET', h, 'w', window, 's', floor, 'r', 0)
  end
  local reserved = tonumber(redis.call('HGET', h, 'r'))
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #dead > 0 then
    for _, gone in ipairs(dead) do
      reserved = reserved - (tonumber(redis.call('HGET', e, gone)) or 0)
      redis.call('HDEL', e, gone)
    end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  end
  local held = redis.call('ZCARD', z)
  if held == 0 then reserved = 0 end
  redis.call('HSET', h, 'r', reserved)
  local spend = tonumber(redis.call('HGET', h, 's'))
  if floor > spend then
    spend = floor
    redis.call('HSET', h, 's', spend)
  end
  return spend, reserved, held
end

local waiting = nil
for i = 1, n do
  local budget = tonumber(ARGV[4 + 3 * i])
  local spend, reserved, held = state(i)
  if spend >= budget - SLACK then return {2, i - 1, tostring(spend)} end
  if waiting == nil and held > 0 and spend + reserved + estimate > budget + SLACK then
    waiting = {1, i - 1, tostring(spend)}
  end
end
if waiting ~= nil then return waiting end

for i = 1, n do
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('ZADD', z, expiry, lease)
  redis.call('HSET', e, lease, ARGV[4])
  redis.call('HINCRBYFLOAT', h, 'r', ARGV[4])
  for _, key in ipairs({h, z, e}) do redis.call('EXPIRE', key, keep) end
end
return {0}
