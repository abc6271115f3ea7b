-- per_provider.lua -- separate daily caps per mailbox provider.
--
-- Large mailbox providers judge a new sender on their own, so each gets its
-- own share of the day's quota.  Recipients are grouped by the domain of
-- their address (a group also covers subdomains); a recipient counts against
-- its group AND the identity's total.  Recipients at other domains only count
-- against the total.  A message with a recipient in a full group is held
-- whole (on_over_quota below keeps the default 24 hours).

local PLAN = {
      500,   1000,   2000,   5000,  10000,  20000,  40000,  60000,  80000, 100000,
   150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000,
}

-- Share of the day's total each provider may take.
local PROVIDERS = {
  gmail   = { share = 0.40, domains = { "gmail.com", "googlemail.com" } },
  outlook = { share = 0.30, domains = { "outlook.com", "hotmail.com", "live.com", "msn.com" } },
  yahoo   = { share = 0.20, domains = { "yahoo.com", "ymail.com", "rocketmail.com" } },
}

ses.on("daily_limit", function(identity)
  local total = PLAN[math.min(identity.level, #PLAN)]
  local groups = {}
  for name, p in pairs(PROVIDERS) do
    groups[name] = { limit = math.floor(total * p.share), domains = p.domains }
  end
  return { total = total, groups = groups }
end)

ses.on("on_over_quota", function(message, identity)
  -- identity.groups holds today's use per provider, e.g. identity.groups.gmail
  return { action = "hold", release_in = 24 * 3600 }
end)
