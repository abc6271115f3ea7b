// redis_state.cpp -- see redis_state.hpp.
#include "store/redis_state.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "util/log.hpp"

namespace ses::store {

namespace {

// KEYS: the day counters; ARGV: ttl, then one limit per key, then one
// amount per key.  Checks all before charging any, so a message counted
// against a domain, an address and their quota groups is charged to all or
// to none.
constexpr std::string_view kChargeScript = R"lua(
local ttl = tonumber(ARGV[1])
local m = #KEYS
local used = {}
for i = 1, m do
  local u = tonumber(redis.call('GET', KEYS[i]) or '0')
  if u + tonumber(ARGV[1 + m + i]) > tonumber(ARGV[1 + i]) then return {0, i, u} end
  used[i] = u
end
for i = 1, m do
  redis.call('INCRBY', KEYS[i], ARGV[1 + m + i])
  redis.call('EXPIRE', KEYS[i], ttl)
end
return {1, 0, used[1] or 0}
)lua";

// KEYS: the day counters; ARGV: one amount per key.
constexpr std::string_view kRefundScript = R"lua(
for i = 1, #KEYS do
  local n = tonumber(ARGV[i])
  local u = tonumber(redis.call('GET', KEYS[i]) or '0')
  if u > n then redis.call('DECRBY', KEYS[i], n) elseif u > 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
end
return 1
)lua";

// KEYS: event set, counter hash; ARGV: event, name, event ttl, counter ttl.
constexpr std::string_view kCountScript = R"lua(
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1
)lua";

// KEYS: values hash, key index (sorted set, lexical); ARGV: key, value.
constexpr std::string_view kSuppPutScript = R"lua(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
)lua";

constexpr std::string_view kSuppDelScript = R"lua(
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
)lua";

// ---- the held-mail order (shared_state.hpp) ----------------------------
// Per identity a sorted set <prefix>h:ID (member NODE|QUEUEID, scored by
// held_at; equal scores sort by member, the tie-break) and a hash
// <prefix>hd:ID (member -> "RECIPIENTS DUE_AT EXPIRES_AT").  Both keys
// expire `order ttl` after the last registration, so an identity nobody
// holds mail for leaves nothing behind.

// KEYS: (set, hash) pairs; ARGV: member, held_at, value, order ttl.
constexpr std::string_view kHeldRegScript = R"lua(
local ttl = tonumber(ARGV[4])
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[i + 1], ARGV[1], ARGV[3])
  if redis.call('TTL', KEYS[i]) < ttl then
    redis.call('EXPIRE', KEYS[i], ttl)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
  end
end
return 1
)lua";

// KEYS: (set, hash) pairs; ARGV: member.
constexpr std::string_view kHeldDelScript = R"lua(
for i = 1, #KEYS, 2 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  redis.call('HDEL', KEYS[i + 1], ARGV[1])
end
return 1
)lua";

// KEYS: k day counters, then k (set, hash) pairs; ARGV: n, ttl, member,
// held_at, value, now, order ttl, then one limit per counter.  Registers the
// message first (its rank in the set is then its place in the order, with
// no string comparison in Lua), then sums the recipients of the older
// entries that are due, stopping as soon as the sum is over the limit, so a
// call reads at most as many entries as the quota has room for (plus those
// not yet due and the expired ones, which it prunes).  All fit: charged and
// unregistered; else nothing charged and the entry stays.
constexpr std::string_view kHeldChargeScript = R"lua(
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local member = ARGV[3]
local now = tonumber(ARGV[6])
local order_ttl = tonumber(ARGV[7])
local k = #KEYS / 3
for i = 1, k do
  local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
  redis.call('ZADD', z, ARGV[4], member)
  redis.call('HSET', h, member, ARGV[5])
  if redis.call('TTL', z) < order_ttl then
    redis.call('EXPIRE', z, order_ttl)
    redis.call('EXPIRE', h, order_ttl)
  end
end
local used = {}
for i = 1, k do
  local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
  local limit = tonumber(ARGV[7 + i])
  local u = tonumber(redis.call('GET', KEYS[i]) or '0')
  used[i] = u
  local total = u + n
  local rank = redis.call('ZRANK', z, member)
  local from = 0
  local stale = {}
  while total <= limit and from < rank do
    local to = math.min(from + 63, rank - 1)
    local page = redis.call('ZRANGE', z, from, to)
    local vals = redis.call('HMGET', h, unpack(page))
    for j = 1, #page do
      local r, due, exp
      if vals[j] then r, due, exp = string.match(vals[j], '^(%d+) (%-?%d+) (%-?%d+)$') end
      if not r or tonumber(exp) <= now then
        stale[#stale + 1] = page[j]
      elseif tonumber(due) <= now then
        total = total + tonumber(r)
        if total > limit then break end
      end
    end
    from = to + 1
  end
  for _, m in ipairs(stale) do
    redis.call('ZREM', z, m)
    redis.call('HDEL', h, m)
  end
  if total > limit then return {0, i, u} end
end
for i = 1, k do
  redis.call('INCRBY', KEYS[i], n)
  redis.call('EXPIRE', KEYS[i], ttl)
  redis.call('ZREM', KEYS[k + 2 * i - 1], member)
  redis.call('HDEL', KEYS[k + 2 * i], member)
end
return {1, 0, used[1] or 0}
)lua";

// KEYS: per day its event set and counter hash; ARGV: event ttl, counter
// ttl, then per counter: its day's index (1-based pair of KEYS), event,
// name, n.  kCountScript for many counters in one call.
constexpr std::string_view kCountManyScript = R"lua(
local out = {}
local touched = {}
for i = 3, #ARGV, 4 do
  local d = tonumber(ARGV[i])
  if redis.call('SADD', KEYS[2 * d - 1], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[2 * d], ARGV[i + 2], ARGV[i + 3])
    touched[d] = true
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
for d = 1, #KEYS / 2 do
  if touched[d] then
    redis.call('EXPIRE', KEYS[2 * d - 1], tonumber(ARGV[1]))
    redis.call('EXPIRE', KEYS[2 * d], tonumber(ARGV[2]))
  end
end
return out
)lua";

// KEYS: identity hash, quota counter, feedback hash of the day.  Returns
// value ('' when none), version, sent, bounced, complained.
constexpr std::string_view kIdentityGetScript = R"lua(
local s = redis.call('HMGET', KEYS[1], 'v', 'n')
local f = redis.call('HMGET', KEYS[3], 'b', 'c')
return {s[1] or '', tonumber(s[2] or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'),
        tonumber(f[1] or '0'), tonumber(f[2] or '0')}
)lua";

// KEYS: identity hash; ARGV: the version read, the new value.  The
// compare-and-set of an identity's state.
constexpr std::string_view kIdentityPutScript = R"lua(
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'n', tostring(n + 1))
return 1
)lua";

// KEYS: event set of the day, feedback hash; ARGV: event ('' for none),
// bounced, complained, counter ttl, event ttl.
constexpr std::string_view kFeedbackScript = R"lua(
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
redis.call('HINCRBY', KEYS[2], 'b', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'c', ARGV[3])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1
)lua";

enum Script {
    kCharge,
    kRefund,
    kCount,
    kSuppPut,
    kSuppDel,
    kHeldReg,
    kHeldDel,
    kHeldCharge,
    kCountMany,
    kIdentityGet,
    kIdentityPut,
    kFeedback,
    kScripts
};
constexpr std::string_view kScriptText[kScripts] = {
    kChargeScript,  kRefundScript,     kCountScript,     kSuppPutScript,     kSuppDelScript,     kHeldRegScript,
    kHeldDelScript, kHeldChargeScript, kCountManyScript, kIdentityGetScript, kIdentityPutScript, kFeedbackScript};

// Registrations outlive their own expiry by a day, so the keys are never
// gone while an entry in them still counts.
constexpr int64_t kOrderKeySlack = 86400;

constexpr int64_t kEventTtl = 8 * 86400;      // retries come within days
constexpr int64_t kCounterTtl = 400 * 86400;  // a year of statistics, and some

struct ReplyDeleter {
    void operator()(redisReply* r) const {
        if (r) freeReplyObject(r);
    }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct CtxDeleter {
    void operator()(redisContext* c) const {
        if (c) redisFree(c);
    }
};
using Ctx = std::unique_ptr<redisContext, CtxDeleter>;

timeval to_timeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

std::string day_str(int32_t day) { return std::to_string(day); }

class RedisState final : public SharedState {
public:
    RedisState(SharedOptions o, RedisAddress a) : opts_(std::move(o)), addr_(std::move(a)) {}

    Result<QuotaAnswer> charge(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n, int64_t ttl) override {
        std::vector<std::string> k, a{std::to_string(std::max<int64_t>(ttl, 1))};
        for (const auto& c : keys) {
            k.push_back(quota_key(c.key, day));
            a.push_back(std::to_string(c.limit));
        }
        for (const auto& c : keys) a.push_back(std::to_string(c.n.value_or(n)));
        auto r = eval(kCharge, k, a);
        if (!r) return r.error();
        const redisReply* rep = r->get();
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) return fail_reply("quota script: unexpected reply");
        QuotaAnswer ans;
        ans.charged = rep->element[0]->integer == 1;
        ans.over = static_cast<int>(rep->element[1]->integer) - 1;
        ans.used = static_cast<uint64_t>(rep->element[2]->integer);
        return ans;
    }

    Status refund(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n) override {
        std::vector<std::string> k, a;
        for (const auto& c : keys) {
            k.push_back(quota_key(c.key, day));
            a.push_back(std::to_string(c.n.value_or(n)));
        }
        auto r = eval(kRefund, k, a);
        if (!r) return r.error();
        return ok_status();
    }

    Result<uint64_t> used(std::string_view key, int32_t day) override {
        auto r = command({"GET", quota_key(key, day)});
        if (!r) return r.error();
        if ((*r)->type == REDIS_REPLY_NIL) return uint64_t{0};
        if ((*r)->type != REDIS_REPLY_STRING) return fail_reply("GET: unexpected reply");
        return static_cast<uint64_t>(std::stoull(std::string((*r)->str, (*r)->len)));
    }

    Result<std::optional<std::string>> suppression_get(std::string_view key) override {
        auto r = command({"HGET", opts_.redis_prefix + "s:v", std::string(key)});
        if (!r) return r.error();
        if ((*r)->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
        if ((*r)->type != REDIS_REPLY_STRING) return fail_reply("HGET: unexpected reply");
        return std::optional<std::string>(std::string((*r)->str, (*r)->len));
    }

    Status suppression_put(std::string_view key, std::string_view value) override {
        auto r = eval(kSuppPut, {opts_.redis_prefix + "s:v", opts_.redis_prefix + "s:k"},
                      {std::string(key), std::string(value)});
        if (!r) return r.error();
        return ok_status();
    }

    Result<bool> suppression_del(std::string_view key) override {
        auto r = eval(kSuppDel, {opts_.redis_prefix + "s:v", opts_.redis_prefix + "s:k"}, {std::string(key)});
        if (!r) return r.error();
        return (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer > 0;
    }

    Result<std::vector<std::pair<std::string, std::string>>> suppression_list(std::string_view prefix,
                                                                              size_t limit) override {
        std::string lo = "[" + std::string(prefix);
        std::string hi = prefix.empty() ? "+" : "[" + std::string(prefix) + std::string(1, '\xff');
        auto r = command({"ZRANGEBYLEX", opts_.redis_prefix + "s:k", lo, hi, "LIMIT", "0", std::to_string(limit)});
        if (!r) return r.error();
        std::vector<std::pair<std::string, std::string>> out;
        if ((*r)->type != REDIS_REPLY_ARRAY) return fail_reply("ZRANGEBYLEX: unexpected reply");
        if ((*r)->elements == 0) return out;
        std::vector<std::string> hm{"HMGET", opts_.redis_prefix + "s:v"};
        for (size_t i = 0; i < (*r)->elements; ++i) hm.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
        auto v = command(hm);
        if (!v) return v.error();
        if ((*v)->type != REDIS_REPLY_ARRAY || (*v)->elements + 2 != hm.size())
            return fail_reply("HMGET: unexpected reply");
        for (size_t i = 0; i < (*v)->elements; ++i)
            if ((*v)->element[i]->type == REDIS_REPLY_STRING)
                out.emplace_back(hm[i + 2], std::string((*v)->element[i]->str, (*v)->element[i]->len));
        return out;
    }

    Result<bool> count(int32_t day, std::string_view name, std::string_view event) override {
        auto r = eval(kCount, {opts_.redis_prefix + "e:" + day_str(day), opts_.redis_prefix + "c:" + day_str(day)},
                      {std::string(event), std::string(name), std::to_string(kEventTtl), std::to_string(kCounterTtl)});
        if (!r) return r.error();
        return (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 1;
    }

    Result<std::map<std::string, uint64_t>> totals(int32_t day) override {
        auto r = command({"HGETALL", opts_.redis_prefix + "c:" + day_str(day)});
        if (!r) return r.error();
        if ((*r)->type != REDIS_REPLY_ARRAY) return fail_reply("HGETALL: unexpected reply");
        std::map<std::string, uint64_t> out;
        for (size_t i = 0; i + 1 < (*r)->elements; i += 2)
            out[std::string((*r)->element[i]->str, (*r)->element[i]->len)] =
                std::stoull(std::string((*r)->element[i + 1]->str, (*r)->element[i + 1]->len));
        return out;
    }

    Result<SharedIdentity> identity_get(std::string_view key, int32_t day) override {
        auto r = eval(kIdentityGet, {identity_key(key), quota_key(key, day), feedback_key(key, day)}, {});
        if (!r) return r.error();
        const redisReply* rep = r->get();
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 5 || rep->element[0]->type != REDIS_REPLY_STRING)
            return fail_reply("identity script: unexpected reply");
        for (size_t i = 1; i < 5; ++i)
            if (rep->element[i]->type != REDIS_REPLY_INTEGER) return fail_reply("identity script: unexpected reply");
        SharedIdentity out;
        out.version = static_cast<uint64_t>(rep->element[1]->integer);
        if (out.version > 0) out.value = std::string(rep->element[0]->str, rep->element[0]->len);
        out.day.sent = static_cast<uint64_t>(rep->element[2]->integer);
        out.day.bounced = static_cast<uint64_t>(rep->element[3]->integer);
        out.day.complained = static_cast<uint64_t>(rep->element[4]->integer);
        return out;
    }

    Result<bool> identity_put(std::string_view key, uint64_t version, std::string_view value) override {
        auto r = eval(kIdentityPut, {identity_key(key)}, {std::to_string(version), std::string(value)});
        if (!r) return r.error();
        if ((*r)->type != REDIS_REPLY_INTEGER) return fail_reply("identity CAS: unexpected reply");
        return (*r)->integer == 1;
    }

    Result<SharedDay> day_get(std::string_view key, int32_t day) override {
        auto r = identity_get(key, day);
        if (!r) return r.error();
        return r->day;
    }

    Result<bool> feedback_add(std::string_view key, int32_t day, uint64_t bounced, uint64_t complained,
                              std::string_view event, int64_t ttl) override {
        std::string ev;
        if (!event.empty()) {
            ev.append(key);
            ev += '\0';
            ev.append(event);
        }
        auto r = eval(kFeedback, {opts_.redis_prefix + "fe:" + day_str(day), feedback_key(key, day)},
                      {ev, std::to_string(bounced), std::to_string(complained),
                       std::to_string(std::max<int64_t>(ttl, 1)), std::to_string(kEventTtl)});
        if (!r) return r.error();
        return (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 1;
    }

    SharedHealth health() const override {
        std::lock_guard lk(mu_);
        return SharedHealth{"redis", up_, errors_, outages_};
    }

    // ---- the held-mail order ----------------------------------------------
    Status held_register(const std::vector<std::string>& keys, const HeldOrder& e) override {
        if (keys.empty()) return ok_status();
        auto r = eval(kHeldReg, order_keys(keys),
                      {e.member, std::to_string(e.held_at), order_value(e), std::to_string(order_ttl(e))});
        if (!r) return r.error();
        return ok_status();
    }

    Status held_remove(const std::vector<std::string>& keys, std::string_view member) override {
        if (keys.empty()) return ok_status();
        auto r = eval(kHeldDel, order_keys(keys), {std::string(member)});
        if (!r) return r.error();
        return ok_status();
    }

    Result<QuotaAnswer> charge_in_order(const std::vector<QuotaCharge>& keys, int32_t day, int64_t ttl,
                                        const HeldOrder& e, int64_t now) override {
        std::vector<std::string> k, ids;
        for (const auto& c : keys) {
            k.push_back(quota_key(c.key, day));
            ids.push_back(c.key);
        }
        for (auto& o : order_keys(ids)) k.push_back(std::move(o));
        std::vector<std::string> a{std::to_string(e.recipients),
                                   std::to_string(std::max<int64_t>(ttl, 1)),
                                   e.member,
                                   std::to_string(e.held_at),
                                   order_value(e),
                                   std::to_string(now),
                                   std::to_string(order_ttl(e))};
        for (const auto& c : keys) a.push_back(std::to_string(c.limit));
        auto r = eval(kHeldCharge, k, a);
        if (!r) return r.error();
        const redisReply* rep = r->get();
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
            return fail_reply("held order script: unexpected reply");
        QuotaAnswer ans;
        ans.charged = rep->element[0]->integer == 1;
        ans.over = static_cast<int>(rep->element[1]->integer) - 1;
        ans.used = static_cast<uint64_t>(rep->element[2]->integer);
        return ans;
    }

    // (set, hash) per identity.
    std::vector<std::string> order_keys(const std::vector<std::string>& ids) const {
        std::vector<std::string> k;
        for (const auto& id : ids) {
            k.push_back(opts_.redis_prefix + "h:" + id);
            k.push_back(opts_.redis_prefix + "hd:" + id);
        }
        return k;
    }
    static std::string order_value(const HeldOrder& e) {
        return std::to_string(e.recipients) + " " + std::to_string(e.due_at) + " " + std::to_string(e.expires_at);
    }
    static int64_t order_ttl(const HeldOrder& e) {
        return std::max<int64_t>(e.expires_at - std::max<int64_t>(e.held_at, 0), 1) + kOrderKeySlack;
    }

private:
    std::string quota_key(std::string_view key, int32_t day) const {
        std::string k = opts_.redis_prefix + "q:" + day_str(day) + ":";
        k.append(key);
        return k;
    }

    std::string identity_key(std::string_view key) const {
        std::string k = opts_.redis_prefix + "w:";
        k.append(key);
        return k;
    }

    std::string feedback_key(std::string_view key, int32_t day) const {
        std::string k = opts_.redis_prefix + "f:" + day_str(day) + ":";
        k.append(key);
        return k;
    }

    Error fail_reply(std::string what) {
        std::lock_guard lk(mu_);
        ++errors_;
        return internal_error("redis: " + what);
    }

    // ---- the pool ---------------------------------------------------------

    // A connection, or the reason there is none.  Fails at once while the
    // backoff after an outage runs.
    Result<Ctx> borrow() {
        std::unique_lock lk(mu_);
        auto now = std::chrono::steady_clock::now();
        if (!up_ && now < retry_at_) {
            ++errors_;
            return internal_error("redis unreachable (" + last_error_ + ")");
        }
        cv_.wait(lk, [&] { return !idle_.empty() || open_ < opts_.redis_pool; });
        if (!idle_.empty()) {
            Ctx c = std::move(idle_.back());
            idle_.pop_back();
            return c;
        }
        ++open_;
        lk.unlock();
        auto c = connect();
        if (!c) {
            lk.lock();
            --open_;
            cv_.notify_one();
            down(c.error().what);
            return c.error();
        }
        return c;
    }

    void give_back(Ctx c) {
        std::lock_guard lk(mu_);
        if (c) {
            idle_.push_back(std::move(c));
        } else {
            --open_;
        }
        cv_.notify_one();
    }

    Result<Ctx> connect() {
        timeval tv = to_timeval(opts_.redis_timeout_ms);
        Ctx c(addr_.unix_path.empty() ? redisConnectWithTimeout(addr_.host.c_str(), addr_.port, tv)
                                      : redisConnectUnixWithTimeout(addr_.unix_path.c_str(), tv));
        if (!c) return internal_error("redis: out of memory");
        if (c->err) return internal_error(std::string("redis connect: ") + c->errstr);
        redisSetTimeout(c.get(), tv);
        if (!addr_.password.empty()) {
            Reply r(static_cast<redisReply*>(
                redisCommand(c.get(), "AUTH %b", addr_.password.data(), addr_.password.size())));
            if (!r || r->type == REDIS_REPLY_ERROR)
                return internal_error("redis AUTH: " + std::string(r ? r->str : c->errstr));
        }
        if (addr_.db != 0) {
            Reply r(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", addr_.db)));
            if (!r || r->type == REDIS_REPLY_ERROR)
                return internal_error("redis SELECT: " + std::string(r ? r->str : c->errstr));
        }
        return c;
    }

    // Marks Redis down (one log line per outage) and starts the backoff.
    // Called with mu_ held.
    void down(const std::string& why) {
        ++errors_;
        last_error_ = why;
        // The idle connections lead to the same failed server: without
        // dropping them, each would fail once more and stretch the backoff.
        open_ -= static_cast<unsigned>(idle_.size());
        idle_.clear();
        cv_.notify_all();
        if (up_) {
            up_ = false;
            ++outages_;
            backoff_ms_ = 100;
            log::error("store: Redis " + describe() + " unreachable: " + why +
                       "; mail that needs the shared state is answered per on_error until it is back");
        } else {
            backoff_ms_ = std::min(backoff_ms_ * 2, 5000);
        }
        retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
    }

    void up() {
        std::lock_guard lk(mu_);
        if (up_) return;
        up_ = true;
        log::notice("store: Redis " + describe() + " reachable again");
    }

    std::string describe() const {
        return addr_.unix_path.empty() ? addr_.host + ":" + std::to_string(addr_.port) : addr_.unix_path;
    }

    // One command on a borrowed connection.  An I/O failure drops the
    // connection; an error reply from Redis is a failure too but keeps it.
    Result<Reply> run(redisContext* c, const std::vector<std::string>& argv, bool& broken) {
        std::vector<const char*> p;
        std::vector<size_t> len;
        for (const auto& a : argv) {
            p.push_back(a.data());
            len.push_back(a.size());
        }
        Reply r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), p.data(), len.data())));
        if (!r) {
            broken = true;
            return internal_error(std::string("redis: ") + (c->errstr[0] ? c->errstr : "no reply"));
        }
        return r;
    }

    Result<Reply> command(const std::vector<std::string>& argv) {
        auto c = borrow();
        if (!c) return c.error();
        bool broken = false;
        auto r = run(c->get(), argv, broken);
        return finish(std::move(*c), std::move(r), broken, argv[0]);
    }

    Result<Reply> finish(Ctx c, Result<Reply> r, bool broken, const std::string& what) {
        if (broken) {
            c.reset();
            give_back(nullptr);
            std::lock_guard lk(mu_);
            down(r.error().what);
            return r.error();
        }
        give_back(std::move(c));
        if (r && (*r)->type == REDIS_REPLY_ERROR) return fail_reply(what + ": " + std::string((*r)->str, (*r)->len));
        up();
        return r;
    }

    // EVALSHA, loading the script first when this process has not, or when
    // Redis forgot it (NOSCRIPT after a restart or SCRIPT FLUSH).
    Result<Reply> eval(Script s, const std::vector<std::string>& keys, const std::vector<std::string>& args) {
        auto c = borrow();
        if (!c) return c.error();
        bool broken = false;
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::string sha;
            {
                std::lock_guard lk(mu_);
                sha = sha_[s];
            }
            if (sha.empty()) {
                auto l = run(c->get(), {"SCRIPT", "LOAD", std::string(kScriptText[s])}, broken);
                if (broken || !l || (*l)->type != REDIS_REPLY_STRING)
                    return finish(std::move(*c),
                                  l ? Result<Reply>(internal_error("redis: SCRIPT LOAD failed")) : std::move(l), broken,
                                  "SCRIPT LOAD");
                sha.assign((*l)->str, (*l)->len);
                std::lock_guard lk(mu_);
                sha_[s] = sha;
            }
            std::vector<std::string> argv{"EVALSHA", sha, std::to_string(keys.size())};
            argv.insert(argv.end(), keys.begin(), keys.end());
            argv.insert(argv.end(), args.begin(), args.end());
            auto r = run(c->get(), argv, broken);
            if (!broken && r && (*r)->type == REDIS_REPLY_ERROR &&
                std::string_view((*r)->str).starts_with("NOSCRIPT")) {
                std::lock_guard lk(mu_);
                sha_[s].clear();
                continue;
            }
            return finish(std::move(*c), std::move(r), broken, "EVALSHA");
        }
        return finish(std::move(*c), internal_error("redis: NOSCRIPT after SCRIPT LOAD"), false, "EVALSHA");
    }

    SharedOptions opts_;
    RedisAddress addr_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Ctx> idle_;
    unsigned open_ = 0;
    bool up_ = true;
    uint64_t errors_ = 0, outages_ = 0;
    int backoff_ms_ = 100;
    std::chrono::steady_clock::time_point retry_at_{};
    std::string last_error_;
    std::string sha_[kScripts];

public:
    // ---- batched statistics counters ----------------------------------------

    Result<std::vector<bool>> count_many(const std::vector<CountOp>& ops) override {
        std::vector<bool> out;
        if (ops.empty()) return out;
        std::vector<std::string> keys, args{std::to_string(kEventTtl), std::to_string(kCounterTtl)};
        std::map<int32_t, size_t> days;  // day -> its pair in KEYS, 1-based
        for (const auto& op : ops) {
            auto [it, fresh] = days.try_emplace(op.day, days.size() + 1);
            if (fresh) {
                keys.push_back(opts_.redis_prefix + "e:" + day_str(op.day));
                keys.push_back(opts_.redis_prefix + "c:" + day_str(op.day));
            }
            args.push_back(std::to_string(it->second));
            args.push_back(op.event);
            args.push_back(op.name);
            args.push_back(std::to_string(op.n));
        }
        auto r = eval(kCountMany, keys, args);
        if (!r) return r.error();
        const redisReply* rep = r->get();
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != ops.size())
            return fail_reply("count script: unexpected reply");
        for (size_t i = 0; i < rep->elements; ++i)
            out.push_back(rep->element[i]->type == REDIS_REPLY_INTEGER && rep->element[i]->integer == 1);
        return out;
    }
};

}  // namespace

Result<RedisAddress> parse_redis_url(std::string_view url) {
    RedisAddress a;
    auto bad = [&] { return internal_error("store: bad redis_url \"" + std::string(url) + "\""); };
    if (url.starts_with("unix:")) {
        std::string_view rest = url.substr(5);
        if (rest.starts_with("//")) rest.remove_prefix(2);
        size_t q = rest.find('?');
        a.unix_path = std::string(rest.substr(0, q));
        if (a.unix_path.empty() || a.unix_path[0] != '/') return bad();
        if (q != std::string_view::npos) {
            std::string_view qs = rest.substr(q + 1);
            while (!qs.empty()) {
                size_t amp = qs.find('&');
                std::string_view kv = qs.substr(0, amp);
                size_t eq = kv.find('=');
                if (eq == std::string_view::npos) return bad();
                std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
                if (k == "db") {
                    try {
                        a.db = std::stoi(std::string(v));
                    } catch (...) {
                        return bad();
                    }
                } else if (k == "password") {
                    a.password = std::string(v);
                } else {
                    return bad();
                }
                qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
            }
        }
        return a;
    }
    if (!url.starts_with("redis://")) return bad();
    std::string_view rest = url.substr(8);
    size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view cred = rest.substr(0, at);
        size_t colon = cred.find(':');
        a.password = std::string(colon == std::string_view::npos ? cred : cred.substr(colon + 1));
        rest = rest.substr(at + 1);
    }
    size_t slash = rest.find('/');
    std::string_view hostport = rest.substr(0, slash);
    if (slash != std::string_view::npos && slash + 1 < rest.size()) {
        try {
            a.db = std::stoi(std::string(rest.substr(slash + 1)));
        } catch (...) {
            return bad();
        }
    }
    if (hostport.starts_with("[")) {  // [::1]:6379
        size_t close = hostport.find(']');
        if (close == std::string_view::npos) return bad();
        a.host = std::string(hostport.substr(1, close - 1));
        hostport = hostport.substr(close + 1);
        if (hostport.starts_with(":"))
            hostport.remove_prefix(1);
        else if (!hostport.empty())
            return bad();
    } else {
        size_t colon = hostport.rfind(':');
        a.host = std::string(hostport.substr(0, colon));
        hostport = colon == std::string_view::npos ? std::string_view{} : hostport.substr(colon + 1);
    }
    if (!hostport.empty()) {
        try {
            a.port = std::stoi(std::string(hostport));
        } catch (...) {
            return bad();
        }
    }
    if (a.host.empty() || a.port <= 0 || a.port > 65535 || a.db < 0) return bad();
    return a;
}

Result<std::shared_ptr<SharedState>> make_redis_state(const SharedOptions& o) {
    auto a = parse_redis_url(o.redis_url);
    if (!a) return a.error();
    return std::shared_ptr<SharedState>(std::make_shared<RedisState>(o, std::move(*a)));
}

}  // namespace ses::store
