-- dedicated_overflow.lua -- dedicated addresses warmed up per provider,
-- overflowing to the established shared pool (docs/pools.md).
--
-- Every address of a [[pool]] is a warm-up identity of its own
-- (identity.kind == "ip", identity.pool names its pool).  A new dedicated
-- address climbs the seed plan, with its own cap for each large mailbox
-- provider, because each provider judges a new address on its own.  The
-- addresses of the shared pool are established: they send at once.  Mail
-- over a dedicated address's quota (its total or a provider's cap) leaves
-- the same day from the shared pool instead of waiting 24 hours; mail over
-- the sender domain's own quota is held as usual.
--
-- With [[pool]] names other than "dedicated" and "shared", change the two
-- names below.

local DEDICATED = "dedicated"
local SHARED = "shared"

local PLAN = {
      500,   1000,   2000,   5000,  10000,  20000,  40000,  60000,  80000, 100000,
   150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000,
}

-- Share of a dedicated address's day each provider may take.
local PROVIDERS = {
  gmail   = { share = 0.40, domains = { "gmail.com", "googlemail.com" } },
  outlook = { share = 0.30, domains = { "outlook.com", "hotmail.com", "live.com", "msn.com" } },
  yahoo   = { share = 0.20, domains = { "yahoo.com", "ymail.com", "rocketmail.com", "aol.com" } },
}

-- What an established address may send a day.
local ESTABLISHED = 5000000

ses.on("daily_limit", function(identity)
  if identity.kind == "ip" and identity.pool == SHARED then
    return ESTABLISHED
  end
  local total = PLAN[math.min(identity.level, #PLAN)]
  if identity.kind ~= "ip" then
    return total  -- the sender domain: the plan, without provider caps
  end
  local groups = {}
  for name, p in pairs(PROVIDERS) do
    groups[name] = { limit = math.floor(total * p.share), domains = p.domains }
  end
  return { total = total, groups = groups }
end)

ses.on("should_upgrade", function(identity, yesterday)
  if identity.level >= #PLAN then return false end
  local sent = math.max(yesterday.sent, 1)
  return yesterday.bounced / sent < 0.05 and yesterday.complained / sent < 0.001
end)

ses.on("on_over_quota", function(message, identity)
  if identity.kind == "ip" and identity.pool == DEDICATED then
    ses.log("overflow from " .. identity.name .. " to the " .. SHARED .. " pool")
    return { action = "overflow", pool = SHARED }
  end
  return { action = "hold", release_in = 24 * 3600 }
end)
