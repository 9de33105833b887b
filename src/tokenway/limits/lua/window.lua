-- The one-second windows of tokenway.limits.window, in a Redis hash, with a running
-- total so a call costs O(1) (amortised) instead of reading all 61 buckets:
--   field <second>: the units counted in that whole second;
--   t: the sum of the live buckets; c: the second the window was last advanced to;
--   n: the newest second that holds units.
-- A unit counted at second s leaves the window at s + 61. A caller whose clock is behind
-- the window's (another process's clock) counts in the window's newest second, never in
-- one already swept. The key expires 62 s after the window moved to its current second
-- (set when it moves, once a second), so it outlives every unit it holds. acquire.lua
-- and release.lua start with this file.

local SPAN = 61

-- The window at `second`: buckets that left it are subtracted from the total and deleted
-- (at most the seconds passed since the last call). Returns {key, total, newest, at,
-- moved}, `at` being the second new units count in (nil: the window holds nothing yet),
-- `moved` whether this call started a second (the first call of each second, in every
-- process: a cue for work done once a second).
local function window(key, second)
  local v = redis.call('HMGET', key, 't', 'c', 'n')
  local total, swept, newest = tonumber(v[1]) or 0, tonumber(v[2]), tonumber(v[3])
  if swept == nil then
    return {key = key, total = 0, newest = nil, at = nil, second = second, moved = true}
  end
  if second - swept >= SPAN then  -- every bucket has left
    redis.call('DEL', key)
    return {key = key, total = 0, newest = nil, at = nil, second = second, moved = true}
  end
  local moved = false
  if second > swept then
    local gone = {}
    for s = swept - SPAN + 1, second - SPAN do gone[#gone + 1] = s end
    if #gone > 0 then
      local counts = redis.call('HMGET', key, unpack(gone))
      for i = 1, #gone do total = total - (tonumber(counts[i]) or 0) end
      redis.call('HDEL', key, unpack(gone))
    end
    redis.call('HSET', key, 'c', string.format('%d', second), 't', string.format('%d', total))
    redis.call('EXPIRE', key, '62')  -- once a second: SPAN + 1, it outlives its units
    swept, moved = second, true
  end
  if newest ~= nil and newest <= second - SPAN then newest = nil end
  return {key = key, total = total, newest = newest, at = swept, second = second, moved = moved}
end

-- Count `amount` units (an integer as text) now in a window `window` returned. Numbers
-- go to Redis as text made here: Redis would print each Lua number with "%.17g".
local function window_add(w, amount)
  local at = w.at
  if at == nil then
    at = w.second
    w.at = at
    redis.call('HSET', w.key, 'c', string.format('%d', at))
    redis.call('EXPIRE', w.key, '62')
  end
  local field = string.format('%d', at)
  redis.call('HINCRBY', w.key, field, amount)
  redis.call('HINCRBY', w.key, 't', amount)
  if w.newest == nil or at > w.newest then
    redis.call('HSET', w.key, 'n', field)
    w.newest = at
  end
  w.total = w.total + tonumber(amount)
end

-- The live buckets, oldest first, as {second, count} (to explain a refusal only).
local function window_buckets(w)
  local raw, buckets = redis.call('HGETALL', w.key), {}
  local oldest = w.second - SPAN + 1
  for i = 1, #raw, 2 do
    local at = tonumber(raw[i])
    if at ~= nil and at >= oldest then buckets[#buckets + 1] = {at, tonumber(raw[i + 1])} end
  end
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  return buckets
end
