-- uses: budget_settle release
-- End a request budget_acquire.lua admitted, in one call: budget_settle.lua (free the
-- reservation, add the cost), then release.lua (free the parallel slots, count tokens).
--
-- KEYS: budget_settle.lua's (3 per account), then release.lua's (2 per quota).
-- ARGV: the number of accounts n, lease id, cost, now, tokens, then per quota 1 when its
-- tokens are counted, else 0 (release.lua's flags).

local n = tonumber(ARGV[1])
local bkeys, rkeys, rargv = {}, {}, {ARGV[4], ARGV[2], ARGV[5]}
for i = 1, 3 * n do bkeys[i] = KEYS[i] end
for i = 3 * n + 1, #KEYS do rkeys[#rkeys + 1] = KEYS[i] end
for i = 6, #ARGV do rargv[#rargv + 1] = ARGV[i] end

budget_settle(bkeys, {ARGV[2], ARGV[3]})
release(rkeys, rargv)
return 0
