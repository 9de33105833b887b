-- End a reservation budget_reserve.lua made: free its lease, add the actual cost.
-- KEYS, per account i (3 each): state hash, leases sorted set, estimates hash (as there).
-- ARGV: lease id, cost.
-- The cost counts in whatever window the account is in now (the store adds a late row
-- to its current window too); an account whose state expired has nothing to add it to,
-- and the store's figure seeds it again.

local lease, cost = ARGV[1], tonumber(ARGV[2])
for i = 1, (#KEYS) / 3 do
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local estimate = redis.call('HGET', e, lease)
  if estimate then
    redis.call('HDEL', e, lease)
    redis.call('ZREM', z, lease)
  end
  local v = redis.call('HMGET', h, 'r', 's')
  if v[2] then  -- the account's state is there
    local reserved = tonumber(v[1]) or 0
    if estimate then
      reserved = redis.call('ZCARD', z) == 0 and 0 or reserved - tonumber(estimate)
    end
    redis.call('HSET', h, 'r', string.format('%.17g', reserved),
      's', string.format('%.17g', tonumber(v[2]) + cost))
  end
end
return 0
