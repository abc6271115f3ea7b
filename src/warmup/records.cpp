// records.cpp -- see records.hpp.
#include "warmup/records.hpp"

#include <arpa/inet.h>

#include <cctype>

#include "store/codec.hpp"
#include "util/strings.hpp"

namespace ses::warmup {

using store::KeyBuilder;
using store::Reader;
using store::Writer;

namespace {
constexpr uint8_t kV1 = 1;

bool is_ip(std::string_view s) {
    std::string z(s);
    unsigned char buf[16];
    return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}
}  // namespace

std::string_view kind_name(Kind k) { return k == Kind::ip ? "ip" : "domain"; }

std::optional<Kind> parse_kind(std::string_view s) {
    if (s == "domain") return Kind::domain;
    if (s == "ip") return Kind::ip;
    return std::nullopt;
}

IdentityKey IdentityKey::domain(std::string_view name) {
    std::string n = str::lower(str::trim(name));
    while (!n.empty() && n.back() == '.') n.pop_back();
    return IdentityKey{Kind::domain, n};
}

IdentityKey IdentityKey::ip(std::string_view addr) { return IdentityKey{Kind::ip, str::lower(str::trim(addr))}; }

std::string IdentityKey::key() const { return KeyBuilder().u8(static_cast<uint8_t>(kind)).text0(name).take(); }

std::optional<IdentityKey> IdentityKey::from_key(std::string_view ik, size_t* used) {
    if (ik.size() < 2 || (ik[0] != 'd' && ik[0] != 'i')) return std::nullopt;
    size_t nul = ik.find('\0', 1);
    if (nul == std::string_view::npos) return std::nullopt;
    if (used) *used = nul + 1;
    return IdentityKey{static_cast<Kind>(ik[0]), std::string(ik.substr(1, nul - 1))};
}

std::string IdentityKey::str() const { return kind == Kind::ip ? "ip:" + name : name; }

IdentityKey parse_identity(std::string_view s) {
    s = str::trim(s);
    if (s.rfind("ip:", 0) == 0) return IdentityKey::ip(s.substr(3));
    if (s.rfind("domain:", 0) == 0) return IdentityKey::domain(s.substr(7));
    if (is_ip(s)) return IdentityKey::ip(s);
    return IdentityKey::domain(s);
}

std::string encode(const IdentityState& s) {
    return Writer()
        .u8(kV1)
        .u32(s.level)
        .u32(static_cast<uint32_t>(s.started))
        .u32(static_cast<uint32_t>(s.day))
        .u8(s.paused ? 1 : 0)
        .i64(s.updated_at)
        .take();
}

std::optional<IdentityState> decode_state(std::string_view v) {
    Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    IdentityState s;
    s.level = r.u32();
    s.started = static_cast<int32_t>(r.u32());
    s.day = static_cast<int32_t>(r.u32());
    s.paused = r.u8() != 0;
    s.updated_at = r.i64();
    if (!r.good()) return std::nullopt;
    return s;
}

std::string encode(const Counters& c) {
    return Writer().u8(kV1).u64(c.sent).u64(c.held).u64(c.released).u64(c.bounced).u64(c.complained).take();
}

std::optional<Counters> decode_counters(std::string_view v) {
    Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    Counters c;
    c.sent = r.u64();
    c.held = r.u64();
    c.released = r.u64();
    c.bounced = r.u64();
    c.complained = r.u64();
    if (!r.good()) return std::nullopt;
    return c;
}

std::string encode(const LevelChange& c) {
    return Writer().u8(kV1).i64(c.at).u32(static_cast<uint32_t>(c.day)).u32(c.from).u32(c.to).str(c.reason).take();
}

std::optional<LevelChange> decode_change(std::string_view v) {
    Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    LevelChange c;
    c.at = r.i64();
    c.day = static_cast<int32_t>(r.u32());
    c.from = r.u32();
    c.to = r.u32();
    c.reason = r.str();
    if (!r.good()) return std::nullopt;
    return c;
}

std::string encode(const HeldMail& h) {
    Writer w;
    w.u8(kV1).u8(static_cast<uint8_t>(h.state)).str(h.queue_id).str(h.sender);
    w.u32(static_cast<uint32_t>(h.identities.size()));
    for (const auto& id : h.identities) w.str(id.key());
    w.u32(h.recipients);
    w.u32(static_cast<uint32_t>(h.domains.size()));
    for (const auto& [d, n] : h.domains) w.str(d).u32(n);
    w.i64(h.held_at).i64(h.release_at).u32(static_cast<uint32_t>(h.charged_day)).i64(h.releasing_since).u32(h.attempts);
    return w.take();
}

std::optional<HeldMail> decode_held(std::string_view v) {
    Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    HeldMail h;
    h.state = r.u8() == 1 ? HeldMail::State::releasing : HeldMail::State::held;
    h.queue_id = r.str();
    h.sender = r.str();
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && r.good(); ++i) {
        auto id = IdentityKey::from_key(r.str());
        if (!id) return std::nullopt;
        h.identities.push_back(*id);
    }
    h.recipients = r.u32();
    uint32_t nd = r.u32();
    for (uint32_t i = 0; i < nd && r.good(); ++i) {
        std::string d = r.str();
        uint32_t c = r.u32();
        h.domains.emplace_back(std::move(d), c);
    }
    h.held_at = r.i64();
    h.release_at = r.i64();
    h.charged_day = static_cast<int32_t>(r.u32());
    h.releasing_since = r.i64();
    h.attempts = r.u32();
    if (!r.good()) return std::nullopt;
    return h;
}

std::string day_key(const IdentityKey& id, int32_t day) { return KeyBuilder().text(id.key()).i32(day).take(); }

std::string group_prefix(const IdentityKey& id, int32_t day) { return day_key(id, day); }

std::string group_key(const IdentityKey& id, int32_t day, std::string_view group) {
    return KeyBuilder().text(id.key()).i32(day).text(group).take();
}

std::string history_key(const IdentityKey& id, int64_t at, uint32_t seq) {
    return KeyBuilder().text(id.key()).i64(at).u32(seq).take();
}

std::string held_key(int64_t release_at, int64_t held_at, std::string_view queue_id) {
    return KeyBuilder().i64(release_at).i64(held_at).text(queue_id).take();
}

int64_t held_key_release_at(std::string_view key) { return store::i64_unkey(store::get_u64be(key, 0)); }

}  // namespace ses::warmup
