-- trusted_fast.lua -- a faster warm-up for domains you already trust.
--
-- Domains in TRUSTED (e.g. a brand moving from another provider with an
-- established reputation) climb a steeper plan; every other identity keeps
-- the shipped 20-day plan.  The reputation rule is the same for both.

local TRUSTED = {
  ["newsletter.example.com"] = true,
  ["billing.example.com"]    = true,
}

local PLAN = {
      500,   1000,   2000,   5000,  10000,  20000,  40000,  60000,  80000, 100000,
   150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000,
}

-- Reaches 1 000 000 a day on day 8.
local FAST_PLAN = { 5000, 20000, 50000, 100000, 250000, 500000, 750000, 1000000 }

local MAX_BOUNCE_RATE    = 0.05
local MAX_COMPLAINT_RATE = 0.001

local function plan_for(identity)
  if identity.kind == "domain" and TRUSTED[identity.name] then return FAST_PLAN end
  return PLAN
end

ses.on("daily_limit", function(identity)
  local plan = plan_for(identity)
  return plan[math.min(identity.level, #plan)]
end)

ses.on("should_upgrade", function(identity, yesterday)
  if identity.level >= #plan_for(identity) then return false end
  if yesterday.sent == 0 then return yesterday.bounced == 0 and yesterday.complained == 0 end
  return yesterday.bounced / yesterday.sent < MAX_BOUNCE_RATE
     and yesterday.complained / yesterday.sent < MAX_COMPLAINT_RATE
end)
