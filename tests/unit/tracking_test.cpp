// tracking_test.cpp -- tracking tokens, the link store and the pure
// handlers of /o, /c and /u against a real LMDB.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "temp_records.hpp"
#include <filesystem>

#include "records/message_store.hpp"
#include "records/return_path.hpp"
#include "records/suppression.hpp"
#include "records/tracking.hpp"

using namespace ses;
using namespace ses::records;

namespace {

TagKeys keys12() {
    TagKeys k;
    k.current = 2;
    k.secret[1] = "an-old-tracking-secret-1";
    k.secret[2] = "the-current-tracking-secret-2";
    return k;
}

struct TempTracking : ses::test::TempRecords {
    std::shared_ptr<SuppressionList> list;
    std::shared_ptr<Tracking> tr;
    explicit TempTracking(SuppressionSettings ss = {}) : TempRecords("tracking") {
        auto l = SuppressionList::open(env, ss);
        REQUIRE(l);
        list = *l;
        TrackingSettings ts;
        ts.keys = keys12();
        auto t = Tracking::open(env, ms, list, ts);
        REQUIRE(t);
        tr = *t;
    }
    MessageRecord add(std::vector<std::string> rcpts, int64_t t = 1'700'000'000) {
        MessageRecord r;
        r.id = new_message_id(t * 1000);
        r.identity = "example.com";
        r.sender = "news@example.com";
        r.request_time = t;
        for (auto& a : rcpts) r.recipients.push_back({a, {}});
        REQUIRE(env->update([&](store::Txn& txn) { return ms->add(txn, r); }));
        return r;
    }
    Counters totals() {
        Counters c{};
        REQUIRE(env->view([&](store::Txn& txn) {
            for (auto& row : ms->stats(txn, 0, 1'000'000))
                for (size_t i = 0; i < kCounters; ++i) c[i] += row.counters[i];
            return ok_status();
        }));
        return c;
    }
    std::vector<Event> events_of(EventType type) {
        std::vector<Event> out;
        REQUIRE(env->view([&](store::Txn& txn) {
            for (auto& e : ms->events(txn, 0, 1000))
                if (e.type == type) out.push_back(e);
            return ok_status();
        }));
        return out;
    }
};

}  // namespace

TEST_CASE("tracking tokens: round trip, URL-safe, key rotation", "[tracking]") {
    auto id = new_message_id(1'700'000'000'000);
    Token t{TokenKind::click, id, uint16_t{0}, 7};
    auto s = make_token(t, keys12());
    REQUIRE(s.size() == kTokenChars);
    for (char c : s) CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
    auto d = decode_token(s, keys12());
    REQUIRE(d);
    CHECK(d->kind == TokenKind::click);
    CHECK(d->message_id == id);
    CHECK(d->recipient == uint16_t{0});
    CHECK(d->link == 7);

    // Made under the old key 1: still valid while key 1 is listed.
    TagKeys old = keys12();
    old.current = 1;
    auto s1 = make_token(t, old);
    CHECK(decode_token(s1, keys12()));
    TagKeys retired = keys12();
    retired.secret.erase(1);
    CHECK_FALSE(decode_token(s1, retired));

    Token none{TokenKind::open, id, std::nullopt, 0};
    auto dn = decode_token(make_token(none, keys12()), keys12());
    REQUIRE(dn);
    CHECK_FALSE(dn->recipient);
}

TEST_CASE("tracking tokens: forged or altered tokens are refused", "[tracking]") {
    auto id = new_message_id(1'700'000'000'000);
    auto s = make_token({TokenKind::click, id, uint16_t{0}, 3}, keys12());
    REQUIRE_FALSE(s.empty());
    // Every single-character change is refused.
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < s.size(); ++i) {
        std::string bad = s;
        bad[i] = alphabet[(alphabet.find(s[i]) + 1) % alphabet.size()];
        CHECK_FALSE(decode_token(bad, keys12()));
    }
    CHECK_FALSE(decode_token(s.substr(1), keys12()));
    CHECK_FALSE(decode_token(s + "A", keys12()));
    CHECK_FALSE(decode_token("", keys12()));
    TagKeys other;
    other.current = 2;
    other.secret[2] = "someone-elses-secret-of-length";
    CHECK_FALSE(decode_token(s, other));
    // A return-path secret reused for tracking does not make a return-path
    // tag a token or the other way round (domain-separated MACs).
    CHECK(make_token({TokenKind::open, "not-an-id", std::nullopt, 0}, keys12()).empty());
}

TEST_CASE("tracking: open marks opened, counts total and unique", "[tracking]") {
    TempTracking tt;
    auto rec = tt.add({"reader@gmail.com"});
    auto tok = make_token({TokenKind::open, rec.id, uint16_t{0}, 0}, keys12());
    for (int i = 0; i < 3; ++i)
        REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
            auto r = tt.tr->open(txn, tok, "Mozilla/5.0 test", 1'700'000'100 + i);
            if (!r) return r.error();
            CHECK(*r);
            return ok_status();
        }));
    auto c = tt.totals();
    CHECK(c[opens] == 3);
    CHECK(c[unique_opens] == 1);
    auto ev = tt.events_of(EventType::open);
    REQUIRE(ev.size() == 3);
    CHECK(ev[0].recipient == "reader@gmail.com");
    CHECK(ev[0].text == "Mozilla/5.0 test");
    REQUIRE(tt.env->view([&](store::Txn& txn) {
        auto m = tt.ms->get(txn, rec.id);
        REQUIRE(m);
        CHECK(m->recipients[0].state.opened);
        CHECK_FALSE(m->recipients[0].state.clicked);
        return ok_status();
    }));

    // A click token is no open token.
    auto click = make_token({TokenKind::click, rec.id, uint16_t{0}, 0}, keys12());
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto r = tt.tr->open(txn, click, "x", 1'700'000'200);
        REQUIRE(r);
        CHECK_FALSE(*r);
        return ok_status();
    }));
    CHECK(tt.totals()[opens] == 3);
}

TEST_CASE("tracking: click redirects to exactly the original URL and counts", "[tracking]") {
    TempTracking tt;
    auto rec = tt.add({"reader@gmail.com"});
    const std::vector<std::string> urls = {"https://example.com/a?x=1&y=%20z#frag", "http://example.org/"};
    REQUIRE(tt.env->update([&](store::Txn& txn) { return tt.tr->put_links(txn, rec.id, urls); }));
    for (uint16_t i = 0; i < 2; ++i) {
        auto tok = make_token({TokenKind::click, rec.id, uint16_t{0}, i}, keys12());
        REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
            auto r = tt.tr->click(txn, tok, "UA", 1'700'000'100);
            REQUIRE(r);
            REQUIRE(*r);
            CHECK(**r == urls[i]);
            return ok_status();
        }));
    }
    auto c = tt.totals();
    CHECK(c[clicks] == 2);
    CHECK(c[unique_clicks] == 1);
    CHECK(tt.events_of(EventType::click).size() == 2);

    // Forged token: no URL, no event.  Unknown link index: the same.
    auto good = make_token({TokenKind::click, rec.id, uint16_t{0}, 0}, keys12());
    std::string forged = good;
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    auto unknown = make_token({TokenKind::click, rec.id, uint16_t{0}, 9}, keys12());
    for (const auto& bad : {forged, unknown, std::string("AAAA")}) {
        REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
            auto r = tt.tr->click(txn, bad, "UA", 1'700'000'100);
            REQUIRE(r);
            CHECK_FALSE(*r);
            return ok_status();
        }));
    }
    CHECK(tt.totals()[clicks] == 2);
    CHECK(tt.events_of(EventType::click).size() == 2);
}

TEST_CASE("tracking: links outlive records and are purged after link_days", "[tracking]") {
    TempTracking tt;
    const int64_t t0 = 1'700'000'000;
    auto rec = tt.add({"reader@gmail.com"}, t0);
    auto recent = tt.add({"reader@gmail.com"}, t0 + 300 * 86400);
    REQUIRE(tt.env->update([&](store::Txn& txn) {
        return tt.tr->put_links(txn, rec.id, {"https://a/", "https://b/"});
    }));
    REQUIRE(tt.env->update([&](store::Txn& txn) { return tt.tr->put_links(txn, recent.id, {"https://c/"}); }));
    // The record is purged (retention): the link still redirects.
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto n = tt.ms->purge(txn, t0 + 1, 100);
        REQUIRE(n);
        CHECK(*n == 1);
        return ok_status();
    }));
    auto tok = make_token({TokenKind::click, rec.id, uint16_t{0}, 1}, keys12());
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto r = tt.tr->click(txn, tok, "UA", t0 + 10);
        REQUIRE(r);
        REQUIRE(*r);
        CHECK(**r == "https://b/");
        return ok_status();
    }));
    // 365 days later the old message's links go, the recent one's stay.
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto n = tt.tr->purge_links(txn, t0 + 366 * 86400, 100);
        REQUIRE(n);
        CHECK(*n == 2);
        CHECK_FALSE(tt.tr->link(txn, rec.id, 0));
        CHECK(tt.tr->link(txn, recent.id, 0) == std::optional<std::string>("https://c/"));
        return ok_status();
    }));
}

TEST_CASE("tracking: one-click unsubscribe records, counts and suppresses per identity", "[tracking]") {
    SuppressionSettings ss;
    ss.per_identity = true;
    TempTracking tt(ss);
    auto rec = tt.add({"Reader@Gmail.com"});
    auto tok = make_token({TokenKind::unsubscribe, rec.id, uint16_t{0}, 0}, keys12());
    REQUIRE(tt.env->view([&](store::Txn& txn) {
        auto target = tt.tr->unsubscribe_target(txn, tok);
        REQUIRE(target);
        CHECK(target->address == "Reader@Gmail.com");
        CHECK(target->identity == "example.com");
        return ok_status();
    }));
    for (int i = 0; i < 2; ++i)  // a second POST changes nothing more
        REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
            auto r = tt.tr->unsubscribe(txn, tok, "", 1'700'000'100);
            REQUIRE(r);
            CHECK(*r);
            return ok_status();
        }));
    CHECK(tt.totals()[unsubscribes] == 1);
    CHECK(tt.events_of(EventType::unsubscribe).size() == 1);
    REQUIRE(tt.env->view([&](store::Txn& txn) {
        auto s = tt.list->find(txn, "reader@gmail.com", "example.com", 1'700'000'200);
        REQUIRE(s);
        CHECK(s->reason == SuppressionReason::unsubscribe);
        CHECK(s->scope == "example.com");
        CHECK_FALSE(tt.list->find(txn, "reader@gmail.com", "other.example", 1'700'000'200));
        return ok_status();
    }));

    // An open token cannot unsubscribe; a forged one neither.
    auto rec2 = tt.add({"other@gmail.com"});
    auto open_tok = make_token({TokenKind::open, rec2.id, uint16_t{0}, 0}, keys12());
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto r = tt.tr->unsubscribe(txn, open_tok, "", 1'700'000'100);
        REQUIRE(r);
        CHECK_FALSE(*r);
        CHECK_FALSE(tt.tr->unsubscribe_target(txn, open_tok));
        return ok_status();
    }));
    REQUIRE(tt.env->view([&](store::Txn& txn) {
        CHECK_FALSE(tt.list->find(txn, "other@gmail.com", "example.com", 1'700'000'200));
        return ok_status();
    }));
}

TEST_CASE("tracking: the mailto: unsubscribe local part", "[tracking]") {
    auto id = new_message_id(1'700'000'000'000);
    Token t{TokenKind::unsubscribe, id, uint16_t{0}, 0};
    std::string local = unsubscribe_local_part(t, keys12());
    REQUIRE(local.size() == kUnsubscribePrefix.size() + kUnsubscribeTokenChars);
    CHECK(local.size() <= 64);  // RFC 5321 local part
    CHECK(local.starts_with("unsub-"));
    for (char c : local.substr(kUnsubscribePrefix.size())) CHECK(((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')));
    auto d = decode_unsubscribe_local_part(local, keys12());
    REQUIRE(d);
    CHECK(d->kind == TokenKind::unsubscribe);
    CHECK(d->message_id == id);
    CHECK(d->recipient == uint16_t{0});
    // Providers may change the case of a local part.
    std::string upper = local;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(decode_unsubscribe_local_part(upper, keys12()));

    // Every single-character change is refused; so are other lengths,
    // another prefix, another key and the https token's spelling.
    const std::string b32 = "abcdefghijklmnopqrstuvwxyz234567";
    for (size_t i = kUnsubscribePrefix.size(); i < local.size(); ++i) {
        std::string bad = local;
        bad[i] = b32[(b32.find(local[i]) + 1) % b32.size()];
        CHECK_FALSE(decode_unsubscribe_local_part(bad, keys12()));
    }
    CHECK_FALSE(decode_unsubscribe_local_part(local.substr(0, local.size() - 1), keys12()));
    CHECK_FALSE(decode_unsubscribe_local_part("unsub_" + local.substr(6), keys12()));
    CHECK_FALSE(decode_unsubscribe_local_part("unsub-" + make_token(t, keys12()), keys12()));
    TagKeys other;
    other.current = 2;
    other.secret[2] = "someone-elses-secret-of-length";
    CHECK_FALSE(decode_unsubscribe_local_part(local, other));
    // Only unsubscribe tokens that name a recipient have a mailto: form.
    CHECK(unsubscribe_local_part({TokenKind::open, id, uint16_t{0}, 0}, keys12()).empty());
    CHECK(unsubscribe_local_part({TokenKind::unsubscribe, id, std::nullopt, 0}, keys12()).empty());
}

TEST_CASE("tracking: an unsubscribe by mail records and suppresses as the POST does", "[tracking]") {
    SuppressionSettings ss;
    ss.per_identity = true;
    TempTracking tt(ss);
    auto rec = tt.add({"reader@gmail.com"});
    auto t = decode_unsubscribe_local_part(
        unsubscribe_local_part({TokenKind::unsubscribe, rec.id, uint16_t{0}, 0}, keys12()), keys12());
    REQUIRE(t);
    REQUIRE(tt.env->update([&](store::Txn& txn) -> Status {
        auto r = tt.tr->unsubscribe(txn, *t, "mailto", 1'700'000'100);
        REQUIRE(r);
        CHECK(*r);
        return ok_status();
    }));
    CHECK(tt.totals()[unsubscribes] == 1);
    auto ev = tt.events_of(EventType::unsubscribe);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].text == "mailto");
    REQUIRE(tt.env->view([&](store::Txn& txn) {
        auto s = tt.list->find(txn, "reader@gmail.com", "example.com", 1'700'000'200);
        REQUIRE(s);
        CHECK(s->reason == SuppressionReason::unsubscribe);
        return ok_status();
    }));
}
