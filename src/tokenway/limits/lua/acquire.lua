-- Admit one request against every quota at once, or refuse it and count nothing.
-- tokenway.limits.redis_store calls it; the windows are those of tokenway.limits.window:
-- one-second buckets (hash field = whole second), a unit counted at second s leaves the
-- window at s + 61. Parallel slots are leases: sorted-set members scored by their expiry.
--
-- KEYS, per quota i (3 each): requests hash, tokens hash, leases sorted set.
-- ARGV: now (seconds), lease id, lease expiry (seconds), then per quota i: rpm, tpm,
-- parallel (-1: no limit).
-- Returns {0, limit_r, left_r, limit_t, left_t, reset_t_ms} when admitted, or
-- {1, quota index, why (1 parallel, 2 requests, 3 tokens), retry_ms, limit_r, left_r,
-- reset_r_ms, limit_t, left_t, reset_t_ms} when refused; a limit of -1 is "none".

local SPAN = 61
local WINDOW = 60
local now = tonumber(ARGV[1])
local second = math.floor(now)
local oldest = second - SPAN + 1

-- The live buckets of a window, oldest first, and their total; expired fields deleted.
local function window(key)
  local raw = redis.call('HGETALL', key)
  local buckets, total, stale = {}, 0, {}
  for i = 1, #raw, 2 do
    local at, count = tonumber(raw[i]), tonumber(raw[i + 1])
    if at < oldest then
      stale[#stale + 1] = raw[i]
    else
      buckets[#buckets + 1] = {at, count}
      total = total + count
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  return buckets, total
end

-- Seconds until at least `excess` units have left the window.
local function wait_for(buckets, excess)
  local freed = 0
  for _, bucket in ipairs(buckets) do
    freed = freed + bucket[2]
    if freed >= excess then return math.max(0, bucket[1] + SPAN - now) end
  end
  return SPAN
end

-- Seconds until every unit has left the window.
local function until_empty(buckets)
  for i = #buckets, 1, -1 do
    if buckets[i][2] > 0 then return math.max(0, buckets[i][1] + SPAN - now) end
  end
  return 0
end

local function ms(seconds) return math.ceil(math.min(seconds, WINDOW) * 1000) end

local n = (#KEYS) / 3
local windows = {}
local limit_r, left_r, limit_t, left_t, reset_t = -1, -1, -1, -1, 0
local refused, why, retry = nil, 0, 0
for i = 1, n do
  local rpm, tpm, parallel = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]),
    tonumber(ARGV[3 * i + 3])
  local requests, used_r = window(KEYS[3 * i - 2])
  local tokens, used_t = window(KEYS[3 * i - 1])
  windows[i] = {requests, used_r, tokens, used_t}
  if not refused and parallel >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3 * i], '-inf', now)
    if redis.call('ZCARD', KEYS[3 * i]) >= parallel then refused, why, retry = i, 1, 1 end
  end
  if not refused and rpm >= 0 then
    local left = rpm - used_r - 1
    if left < 0 then
      refused, why, retry = i, 2, wait_for(requests, -left)
    elseif limit_r < 0 or left < left_r then
      limit_r, left_r = rpm, left
    end
  end
  if not refused and tpm >= 0 then
    local left = tpm - used_t
    if left <= 0 then
      refused, why, retry = i, 3, wait_for(tokens, 1 - left)
    elseif limit_t < 0 or left < left_t then
      limit_t, left_t = tpm, left
      if left == tpm then
        reset_t = 0
      elseif tokens[#tokens][1] == second then
        reset_t = WINDOW
      else
        reset_t = until_empty(tokens)
      end
    end
  end
end

if refused then
  -- The header figures of the tightest limits, over every quota, nothing counted.
  local lim_r, rem_r, res_r, lim_t, rem_t, res_t = -1, 0, 0, -1, 0, 0
  for i = 1, n do
    local rpm, tpm = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
    local w = windows[i]
    if rpm >= 0 and (lim_r < 0 or rpm - w[2] < rem_r) then
      lim_r, rem_r, res_r = rpm, rpm - w[2], until_empty(w[1])
    end
    if tpm >= 0 and (lim_t < 0 or tpm - w[4] < rem_t) then
      lim_t, rem_t, res_t = tpm, tpm - w[4], until_empty(w[3])
    end
  end
  return {1, refused, why, ms(retry), lim_r, math.max(rem_r, 0), ms(res_r), lim_t,
    math.max(rem_t, 0), ms(res_t)}
end

for i = 1, n do
  local rpm, parallel = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 3])
  if parallel >= 0 then
    redis.call('ZADD', KEYS[3 * i], ARGV[3], ARGV[2])
    redis.call('EXPIRE', KEYS[3 * i], math.ceil(tonumber(ARGV[3]) - now) + 1)
  end
  if rpm >= 0 then
    redis.call('HINCRBY', KEYS[3 * i - 2], second, 1)
    redis.call('EXPIRE', KEYS[3 * i - 2], SPAN + 1)
  end
end
return {0, limit_r, left_r, limit_t, left_t, ms(reset_t)}
