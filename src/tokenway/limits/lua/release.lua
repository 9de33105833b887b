-- with: window
-- End a request acquire.lua admitted: free its lease, count its tokens.
-- KEYS, per quota i (2 each): tokens hash, leases sorted set.
-- ARGV: now (seconds), lease id ('' when the request holds none here), tokens, then per
-- quota i: 1 when its tokens are counted (it has a tpm limit), else 0.

local second = math.floor(tonumber(ARGV[1]))
local lease, tokens = ARGV[2], tonumber(ARGV[3])
for i = 1, (#KEYS) / 2 do
  if lease ~= '' then redis.call('ZREM', KEYS[2 * i], lease) end
  if tokens > 0 and ARGV[3 + i] == '1' then
    window_add(window(KEYS[2 * i - 1], second), ARGV[3])
  end
end
return 0
