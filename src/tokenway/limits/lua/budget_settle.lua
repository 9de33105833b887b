-- End a reservation budget_reserve.lua made: free its lease, add the actual cost.
-- KEYS, per account i (3 each): state hash, leases sorted set, estimates hash (as there).
-- ARGV: lease id, cost.
-- The cost counts in whatever window the account is in now (the store adds a late row
-- to its current window too); an account whose state expired has nothing to add it to,
-- and the store's figure seeds it again.

local lease, cost = ARGV[1], ARGV[2]
for i = 1, (#KEYS) / 3 do
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local estimate = redis.call('HGET', e, lease)
  if estimate then
    redis.call('HDEL', e, lease)
    redis.call('ZREM', z, lease)
    if redis.call('ZCARD', z) == 0 then
      redis.call('HSET', h, 'r', 0)
    else
      redis.call('HINCRBYFLOAT', h, 'r', '-' .. estimate)
    end
  end
  if redis.call('EXISTS', h) == 1 then redis.call('HINCRBYFLOAT', h, 's', cost) end
end
return 0
