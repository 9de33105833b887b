-- Reserve one request's estimated cost on every account at once, or nothing.
-- tokenway.limits.redis_budgets calls it; the rules are tokenway.limits.budgets's.
--
-- KEYS, per account i (3 each): state hash (fields w: budget window, s: spend, r: the
-- reservations' sum, x: when the keys' expiry was last pushed back), leases sorted set
-- (member: lease, score: minus its expiry, as acquire.lua's parallel slots: a new lease
-- goes first), estimates hash (lease -> its estimate).
-- ARGV: now (seconds), lease id, lease expiry (seconds), estimate, keep (seconds the
-- state outlives its last use), then per account i: window, budget, floor (the store's
-- spend as the caller knows it).
-- Returns {0} when reserved, or {1 (wait) or 2 (exceeded), account index, spend as text}.
-- The three keys expire `keep` seconds after the last reservation, to within a tenth:
-- their expiry is pushed back once in that tenth (three EXPIREs a request cost Redis
-- more than the rest of a reservation's bookkeeping), and at once for the sets a
-- reservation creates (a set whose last member left is gone).
-- Sums are kept as text written here ("%.17g": a double's exact value), not with
-- HINCRBYFLOAT, whose long-double parsing and printing cost Redis more than the rest.

local SLACK = 1e-9
local now, lease, expiry = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local estimate = tonumber(ARGV[4])
local n = (#KEYS) / 3
local keep = tonumber(ARGV[5])
local refreshed = {}  -- per account, the expiry was pushed back recently

-- The account's state for this window: a new window starts at the floor; the leases of
-- processes that died without settling are dropped with their estimates when `sweep`
-- says, or once a tenth of `keep` (with the expiry): until then their estimates can
-- only make the budget stricter, and the caller sweeps before it makes a request wait.
local function state(i, sweep)
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local window, floor = ARGV[3 + 3 * i], tonumber(ARGV[5 + 3 * i])
  local v = redis.call('HMGET', h, 'w', 'r', 's', 'x')
  local reserved, spend = tonumber(v[2]), tonumber(v[3])
  refreshed[i] = v[1] == window and now - (tonumber(v[4]) or -keep) < keep / 10
  if v[1] ~= window then
    redis.call('DEL', h, z, e)
    redis.call('HSET', h, 'w', window, 's', ARGV[5 + 3 * i], 'r', '0')
    reserved, spend = 0, floor
  end
  local changed = false
  local dead = {}
  if sweep or not refreshed[i] then
    dead = redis.call('ZRANGEBYSCORE', z, '-' .. ARGV[1], '+inf')
  end
  if #dead > 0 then
    for _, gone in ipairs(dead) do
      reserved = reserved - (tonumber(redis.call('HGET', e, gone)) or 0)
      redis.call('HDEL', e, gone)
    end
    redis.call('ZREMRANGEBYSCORE', z, '-' .. ARGV[1], '+inf')
    changed = true
  end
  local held = redis.call('ZCARD', z)
  if held == 0 and reserved ~= 0 then reserved, changed = 0, true end
  if changed then redis.call('HSET', h, 'r', string.format('%.17g', reserved)) end
  if floor > spend then
    spend = floor
    redis.call('HSET', h, 's', ARGV[5 + 3 * i])
  end
  return spend, reserved, held
end

local waiting, sums, helds = nil, {}, {}
for i = 1, n do
  local budget = tonumber(ARGV[4 + 3 * i])
  local spend, reserved, held = state(i, false)
  if held > 0 and refreshed[i] and spend + reserved + estimate > budget + SLACK then
    spend, reserved, held = state(i, true)  -- dead leases may be what holds it
  end
  sums[i], helds[i] = reserved, held
  if spend >= budget - SLACK then return {2, i - 1, tostring(spend)} end
  if waiting == nil and held > 0 and spend + reserved + estimate > budget + SLACK then
    waiting = {1, i - 1, tostring(spend)}
  end
end
if waiting ~= nil then return waiting end

for i = 1, n do
  local h, z, e = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('ZADD', z, '-' .. expiry, lease)
  redis.call('HSET', e, lease, ARGV[4])
  local r = string.format('%.17g', sums[i] + estimate)
  if refreshed[i] then
    redis.call('HSET', h, 'r', r)
    if helds[i] == 0 then  -- the sets are new
      redis.call('EXPIRE', z, ARGV[5])
      redis.call('EXPIRE', e, ARGV[5])
    end
  else
    redis.call('HSET', h, 'r', r, 'x', ARGV[1])
    for _, key in ipairs({h, z, e}) do redis.call('EXPIRE', key, ARGV[5]) end
  end
end
return {0}
