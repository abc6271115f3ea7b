-- weekend_pause.lua -- no sending on Saturdays and Sundays.
--
-- Days are calendar days in the configured [warmup] time_zone.  On a weekend
-- day the limit is 0, so every message is held; on_over_quota holds it until
-- Monday 00:00, when the release scheduler sends it, oldest first, within
-- Monday's quota.  The warm-up does not advance on the weekend's empty
-- figures.

local PLAN = {
      500,   1000,   2000,   5000,  10000,  20000,  40000,  60000,  80000, 100000,
   150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000,
}
local MONDAY, SATURDAY, SUNDAY = 1, 6, 7   -- identity.weekday: 1 = Monday .. 7 = Sunday

local function weekend(identity) return identity.weekday == SATURDAY or identity.weekday == SUNDAY end

ses.on("daily_limit", function(identity)
  if weekend(identity) then return 0 end
  return PLAN[math.min(identity.level, #PLAN)]
end)

ses.on("should_upgrade", function(identity, yesterday)
  -- identity.weekday is the new day.  A weekend day sends nothing, so its
  -- empty figures must not earn a step: skip the changes into Sunday and
  -- Monday.  Friday's figures are judged at the change into Saturday.
  if identity.weekday == SUNDAY or identity.weekday == MONDAY then return false end
  if identity.level >= #PLAN then return false end
  if yesterday.sent == 0 then return yesterday.bounced == 0 and yesterday.complained == 0 end
  return yesterday.bounced / yesterday.sent < 0.05 and yesterday.complained / yesterday.sent < 0.001
end)

ses.on("on_over_quota", function(message, identity)
  if identity.weekday == SATURDAY then
    return { action = "hold", release_in = identity.day_ends_in + 24 * 3600 }
  elseif identity.weekday == SUNDAY then
    return { action = "hold", release_in = identity.day_ends_in }
  end
  return { action = "hold", release_in = 24 * 3600 }
end)
