-- warmup.lua -- the shipped warm-up policy of sesmilter.
--
-- It reproduces the product's default behaviour:
--   * the 20-day plan below: the messages an identity (sender domain or
--     sending IP) may send on each warm-up level; every recipient counts as
--     one message;
--   * one level up at each day change, unless yesterday's bounce rate or
--     complaint rate reached the thresholds below;
--   * mail over today's quota is held in the MTA and released 24 hours later
--     (charged to the day it is released).
--
-- Copy this file, change the constants, and point `[policy] script` at the
-- copy.  `sesmilter` reloads it on SIGHUP; a copy that fails to load is
-- refused and the running one kept.  docs/lua.md describes every hook.

-- Messages per day on each level (level 1 = the first day).
local PLAN = {
      500,   1000,   2000,   5000,  10000,  20000,  40000,  60000,  80000, 100000,
   150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000,
}

-- No upgrade after a day with this share of bounces or complaints (of sent).
local MAX_BOUNCE_RATE    = 0.05    -- 5 %
local MAX_COMPLAINT_RATE = 0.001   -- 0.1 %

-- Yesterday must have sent at least this many messages to earn an upgrade.
-- 0 keeps the seed rule: a quiet day counts as a good day.
local MIN_SENT_FOR_UPGRADE = 0

-- How long over-quota mail waits in the hold queue.
local HOLD_SECONDS = 24 * 3600

ses.on("daily_limit", function(identity)
  return PLAN[math.min(math.max(identity.level, 1), #PLAN)]
end)

ses.on("should_upgrade", function(identity, yesterday)
  if identity.level >= #PLAN then return false end
  if yesterday.sent < MIN_SENT_FOR_UPGRADE then return false end
  local sent = yesterday.sent
  if sent == 0 then
    return yesterday.bounced == 0 and yesterday.complained == 0
  end
  return yesterday.bounced / sent < MAX_BOUNCE_RATE
     and yesterday.complained / sent < MAX_COMPLAINT_RATE
end)

ses.on("on_over_quota", function(message, identity)
  return { action = "hold", release_in = HOLD_SECONDS }
end)
