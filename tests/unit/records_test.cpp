// records_test.cpp -- the recipient status model: every transition from a table.
#include <catch2/catch.hpp>

#include "records/status.hpp"

using namespace ses::records;
using K = Outcome::Kind;

namespace {
Outcome out(K k, std::string dsn = {}, std::string text = {}, int64_t t = 100) { return Outcome{k, dsn, text, t}; }
}  // namespace

TEST_CASE("Transitions: which outcome moves which state, and what it counts") {
    struct Row {
        Deliver from;
        K kind;
        std::optional<Deliver> to;  // nullopt: nothing changes
        std::optional<EventType> event;
    };
    const Row rows[] = {
        {Deliver::accepted, K::sent, Deliver::delivered, EventType::delivered},
        {Deliver::delayed, K::sent, Deliver::delivered, EventType::delivered},
        {Deliver::delivered, K::sent, std::nullopt, std::nullopt},
        {Deliver::bounced, K::sent, std::nullopt, std::nullopt},
        {Deliver::dropped, K::sent, std::nullopt, std::nullopt},
        {Deliver::accepted, K::deferred, Deliver::delayed, EventType::deferred},
        {Deliver::delayed, K::deferred, Deliver::delayed, EventType::deferred},
        {Deliver::delivered, K::deferred, std::nullopt, std::nullopt},
        {Deliver::accepted, K::bounced, Deliver::bounced, EventType::bounce},
        {Deliver::delayed, K::bounced, Deliver::bounced, EventType::bounce},
        {Deliver::delivered, K::bounced, Deliver::bounced, EventType::bounce},  // DSN after relay
        {Deliver::bounced, K::bounced, std::nullopt, std::nullopt},
        {Deliver::dropped, K::bounced, std::nullopt, std::nullopt},
        {Deliver::delayed, K::expired, Deliver::bounced, EventType::bounce},
        {Deliver::delivered, K::expired, std::nullopt, std::nullopt},
        {Deliver::accepted, K::dropped, Deliver::dropped, EventType::dropped},
        {Deliver::delivered, K::dropped, std::nullopt, std::nullopt},
        {Deliver::delivered, K::complaint, Deliver::delivered, EventType::spamreport},
    };
    for (const auto& r : rows) {
        CAPTURE(deliver_name(r.from), static_cast<int>(r.kind));
        RecipientState st;
        st.deliver = r.from;
        auto before = st.deliver;
        auto c = apply(st, out(r.kind, "5.1.1", "550 5.1.1 no such user"));
        REQUIRE(c.has_value() == r.event.has_value());
        if (!c) {
            CHECK(st.deliver == before);
            continue;
        }
        CHECK(c->event == *r.event);
        CHECK(st.deliver == *r.to);
    }
}

TEST_CASE("Counters move once per recipient state change") {
    RecipientState st;
    auto c1 = apply(st, out(K::deferred, "4.4.1", "connect timed out", 10));
    auto c2 = apply(st, out(K::deferred, "4.4.1", "connect timed out", 20));
    REQUIRE(c1);
    REQUIRE(c2);
    CHECK(c1->count_deferred);
    CHECK_FALSE(c2->count_deferred);  // a second attempt is an event, not another deferred recipient
    auto c3 = apply(st, out(K::sent, "2.0.0", "250 ok", 30));
    REQUIRE(c3);
    CHECK(c3->count_delivered);
    CHECK(st.deliver_time == 30);
    CHECK(st.deliver_message == "250 ok");
    CHECK_FALSE(apply(st, out(K::sent, "2.0.0", "250 ok", 40)));  // the same line twice
    auto c4 = apply(st, out(K::complaint));
    REQUIRE(c4);
    CHECK(c4->count_complaint);
    CHECK(st.complained);
    CHECK_FALSE(apply(st, out(K::complaint)));
}

TEST_CASE("Bounces are hard or soft") {
    CHECK(classify_bounce("5.1.1", "") == BounceType::hard);
    CHECK(classify_bounce("4.4.7", "") == BounceType::soft);
    CHECK(classify_bounce("", "host mx said: 550 no such user") == BounceType::hard);
    CHECK(classify_bounce("", "451-try later") == BounceType::soft);
    CHECK(classify_bounce("", "mail loops back") == BounceType::soft);
    RecipientState st;
    st.deliver = Deliver::delayed;
    auto c = apply(st, out(K::expired, "", "message expired"));
    REQUIRE(c);
    CHECK(c->bounce == BounceType::soft);
    CHECK(st.deliver == Deliver::bounced);
}

TEST_CASE("DeliverMessage is bounded on a character boundary") {
    std::string longtext(600, 'x');
    CHECK(bounded(longtext).size() == kMaxDeliverMessage);
    std::string utf(kMaxDeliverMessage - 4, 'a');
    utf += "\xC3\xA9\xC3\xA9\xC3\xA9";  // é é é straddling the cut
    std::string b = bounded(utf);
    CHECK(b.ends_with("..."));
    CHECK((static_cast<unsigned char>(b[b.size() - 4]) & 0xC0) != 0xC0);  // no lead byte left dangling
    CHECK(bounded("short") == "short");
}
