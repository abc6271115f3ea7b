// records.hpp -- the warm-up records in LMDB and their key layouts.
//
// Identity key (IK): one kind byte ('d' sender domain, 'i' sending IP), the
// lower-case name, a NUL.  Days are local day numbers (timezone.hpp) stored
// as order-preserving u32; times are u64 seconds, both big-endian, so a
// cursor walks one identity's days, or the held mail by release time, in
// order.  docs/store-layout.md (generated from src/store/schema.cpp) has
// the layouts; every value begins with a version byte.
//
//   warmup_identity   IK                          -> IdentityState
//   warmup_day        IK + day                    -> Counters
//   warmup_group_day  IK + day + group name       -> u64 sent
//   warmup_history    IK + at + seq               -> LevelChange
//   held              release_at + held_at + QID  -> HeldMail
//   held_qid          QID                         -> key in `held`
//
// Decoders return nullopt on a value they cannot read.  Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "warmup/hooks.hpp"

namespace ses::warmup {

enum class Kind : char { domain = 'd', ip = 'i' };
std::string_view kind_name(Kind k);                  // "domain" | "ip"
std::optional<Kind> parse_kind(std::string_view s);  // "domain" | "ip"

struct IdentityKey {
    Kind kind = Kind::domain;
    std::string name;  // lower case

    static IdentityKey domain(std::string_view name);
    static IdentityKey ip(std::string_view addr);
    std::string key() const;  // IK
    static std::optional<IdentityKey> from_key(std::string_view ik, size_t* used = nullptr);
    std::string str() const;  // "example.com" / "ip:192.0.2.1"
    bool operator==(const IdentityKey& o) const { return kind == o.kind && name == o.name; }
    bool operator<(const IdentityKey& o) const { return key() < o.key(); }
};

// "example.com" -> domain, "ip:192.0.2.1" or a bare IP address -> ip.
IdentityKey parse_identity(std::string_view s);

struct IdentityState {
    uint32_t level = 1;
    int32_t started = 0;  // first day seen
    int32_t day = 0;      // the day the level was last rolled to
    bool paused = false;
    int64_t updated_at = 0;
};

struct LevelChange {
    int64_t at = 0;
    int32_t day = 0;
    uint32_t from = 0, to = 0;
    std::string reason;  // "upgrade", "no upgrade: ...", "set-level", "paused", "resumed"
};

struct HeldMail {
    enum class State : uint8_t { held = 0, releasing = 1 };
    State state = State::held;
    std::string queue_id;
    std::string sender;
    std::vector<IdentityKey> identities;
    uint32_t recipients = 0;
    std::vector<std::pair<std::string, uint32_t>> domains;  // recipient domain -> count
    int64_t held_at = 0;
    int64_t release_at = 0;
    int32_t charged_day = 0;  // while releasing: the day its recipients were charged to
    int64_t releasing_since = 0;
    uint32_t attempts = 0;
};

std::string encode(const IdentityState& s);
std::optional<IdentityState> decode_state(std::string_view v);
std::string encode(const Counters& c);
std::optional<Counters> decode_counters(std::string_view v);
std::string encode(const LevelChange& c);
std::optional<LevelChange> decode_change(std::string_view v);
std::string encode(const HeldMail& h);
std::optional<HeldMail> decode_held(std::string_view v);

// Keys.
std::string day_key(const IdentityKey& id, int32_t day);
std::string group_key(const IdentityKey& id, int32_t day, std::string_view group);
std::string group_prefix(const IdentityKey& id, int32_t day);  // IK + day
std::string history_key(const IdentityKey& id, int64_t at, uint32_t seq);
std::string held_key(int64_t release_at, int64_t held_at, std::string_view queue_id);
int64_t held_key_release_at(std::string_view key);

}  // namespace ses::warmup
