-- uses: budget_reserve acquire budget_settle
-- Reserve a request's budget and acquire its rate limits in one call, or neither:
-- budget_reserve.lua, then acquire.lua once the budget admitted (a refusal gives the
-- reservation back, as budget_settle.lua with no cost). The parts' sources are put
-- before this one as functions of (KEYS, ARGV) (tokenway.limits.redis_store).
--
-- KEYS: budget_reserve.lua's (3 per account), then acquire.lua's (3 per quota).
-- ARGV: the number of accounts n, budget_reserve.lua's ARGV (5 + 3n words: now, lease,
-- lease expiry, estimate, keep, then per account), then acquire.lua's limits (3 per
-- quota); acquire.lua's now, lease and expiry are the reservation's.
-- Returns budget_reserve.lua's refusal ({1 or 2, account index, spend}), or {0} followed
-- by acquire.lua's reply.

local n = tonumber(ARGV[1])
local bkeys, bargv, akeys, aargv = {}, {}, {}, {ARGV[2], ARGV[3], ARGV[4]}
for i = 1, 3 * n do bkeys[i] = KEYS[i] end
for i = 3 * n + 1, #KEYS do akeys[#akeys + 1] = KEYS[i] end
for i = 2, 6 + 3 * n do bargv[#bargv + 1] = ARGV[i] end
for i = 7 + 3 * n, #ARGV do aargv[#aargv + 1] = ARGV[i] end

local verdict = budget_reserve(bkeys, bargv)
if verdict[1] ~= 0 then return verdict end
local rate = acquire(akeys, aargv)
if rate[1] ~= 0 then budget_settle(bkeys, {ARGV[3], '0'}) end
table.insert(rate, 1, 0)
return rate
