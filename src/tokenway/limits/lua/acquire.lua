-- with: window
-- Admit one request against every quota at once, or refuse it and count nothing.
-- tokenway.limits.redis_store calls it; the windows are those of tokenway.limits.window
-- (window.lua: one-second buckets with a running total, a unit counted at second s
-- leaves the window at s + 61). Parallel slots are leases: sorted-set members scored by
-- minus their expiry, so a new lease (the latest expiry) goes first: a small sorted set
-- is a list that ZADD walks from its head, parsing each score (measured: 6.3 µs a ZADD
-- at the tail of 64 leases, 1.6 µs at the head).
--
-- KEYS, per quota i (3 each): requests hash, tokens hash, leases sorted set.
-- ARGV: now (seconds), lease id, lease expiry (seconds), then per quota i: rpm, tpm,
-- parallel (-1: no limit).
-- Returns {0, limit_r, left_r, limit_t, left_t, reset_t_ms} when admitted, or
-- {1, quota index, why (1 parallel, 2 requests, 3 tokens), retry_ms, limit_r, left_r,
-- reset_r_ms, limit_t, left_t, reset_t_ms} when refused; a limit of -1 is "none".

local WINDOW = 60
local now = tonumber(ARGV[1])
local second = math.floor(now)

-- Seconds until at least `excess` units have left the window (oldest leave first).
local function wait_for(w, excess)
  local freed = 0
  for _, bucket in ipairs(window_buckets(w)) do
    freed = freed + bucket[2]
    if freed >= excess then return math.max(0, bucket[1] + SPAN - now) end
  end
  return SPAN
end

-- Seconds until every unit has left the window.
local function until_empty(w)
  if w.newest == nil then return 0 end
  return math.max(0, w.newest + SPAN - now)
end

local function ms(seconds) return math.ceil(math.min(seconds, WINDOW) * 1000) end

local n = (#KEYS) / 3
local windows = {}
local limit_r, left_r, limit_t, left_t, reset_t = -1, -1, -1, -1, 0
local refused, why, retry = nil, 0, 0
for i = 1, n do
  local rpm, tpm, parallel = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]),
    tonumber(ARGV[3 * i + 3])
  local requests = rpm >= 0 and window(KEYS[3 * i - 2], second) or nil
  local tokens = tpm >= 0 and window(KEYS[3 * i - 1], second) or nil
  windows[i] = {requests, tokens}
  if not refused and parallel >= 0 then
    -- Leases of processes that died are dropped once a second (the requests window
    -- moved), or when the slots look full: until then they only make the limit stricter.
    local slots = KEYS[3 * i]
    local held = (requests and not requests.moved) and redis.call('ZCARD', slots) or parallel
    if held >= parallel then
      redis.call('ZREMRANGEBYSCORE', slots, '-' .. ARGV[1], '+inf')
      held = redis.call('ZCARD', slots)
    end
    if held >= parallel then refused, why, retry = i, 1, 1 end
  end
  if not refused and requests then
    local left = rpm - requests.total - 1
    if left < 0 then
      refused, why, retry = i, 2, wait_for(requests, -left)
    elseif limit_r < 0 or left < left_r then
      limit_r, left_r = rpm, left
    end
  end
  if not refused and tokens then
    local left = tpm - tokens.total
    if left <= 0 then
      refused, why, retry = i, 3, wait_for(tokens, 1 - left)
    elseif limit_t < 0 or left < left_t then
      limit_t, left_t = tpm, left
      if left == tpm then
        reset_t = 0
      elseif tokens.newest == second then
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
    local requests, tokens = windows[i][1], windows[i][2]
    if requests and (lim_r < 0 or rpm - requests.total < rem_r) then
      lim_r, rem_r, res_r = rpm, rpm - requests.total, until_empty(requests)
    end
    if tokens and (lim_t < 0 or tpm - tokens.total < rem_t) then
      lim_t, rem_t, res_t = tpm, tpm - tokens.total, until_empty(tokens)
    end
  end
  return {1, refused, why, ms(retry), lim_r, math.max(rem_r, 0), ms(res_r), lim_t,
    math.max(rem_t, 0), ms(res_t)}
end

for i = 1, n do
  local rpm, parallel = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 3])
  if parallel >= 0 then
    redis.call('ZADD', KEYS[3 * i], '-' .. ARGV[3], ARGV[2])
    redis.call('EXPIRE', KEYS[3 * i], string.format('%d', math.ceil(tonumber(ARGV[3]) - now) + 1))
  end
  if rpm >= 0 then window_add(windows[i][1], '1') end
end
return {0, limit_r, left_r, limit_t, left_t, ms(reset_t)}
