// status.cpp -- see status.hpp.
#include "records/status.hpp"

#include <cctype>

namespace ses::records {

std::string_view deliver_name(Deliver d) {
    switch (d) {
        case Deliver::accepted:
            return "accepted";
        case Deliver::delivered:
            return "delivered";
        case Deliver::dropped:
            return "dropped";
        case Deliver::bounced:
            return "bounced";
        case Deliver::delayed:
            return "delayed";
    }
    return "?";
}

std::string_view bounce_type_name(BounceType b) {
    switch (b) {
        case BounceType::none:
            return "none";
        case BounceType::hard:
            return "hard";
        case BounceType::soft:
            return "soft";
    }
    return "?";
}

std::string_view event_name(EventType t) {
    switch (t) {
        case EventType::processed:
            return "processed";
        case EventType::delivered:
            return "delivered";
        case EventType::deferred:
            return "deferred";
        case EventType::bounce:
            return "bounce";
        case EventType::dropped:
            return "dropped";
        case EventType::spamreport:
            return "spamreport";
        case EventType::open:
            return "open";
        case EventType::click:
            return "click";
        case EventType::unsubscribe:
            return "unsubscribe";
        case EventType::held:
            return "held";
        case EventType::released:
            return "released";
        case EventType::rendering_failure:
            return "rendering_failure";
        case EventType::auto_reply:
            return "auto_reply";
    }
    return "?";
}

std::optional<EventType> parse_event_name(std::string_view name) {
    for (int i = 0; i < kEventTypes; ++i)
        if (event_name(static_cast<EventType>(i)) == name) return static_cast<EventType>(i);
    return std::nullopt;
}

BounceType classify_bounce(std::string_view dsn, std::string_view text) {
    if (!dsn.empty()) return dsn[0] == '5' ? BounceType::hard : BounceType::soft;
    // "host x said: 550 ..." or a bare "550 ...": the first reply code wins.
    for (size_t i = 0; i + 3 <= text.size(); ++i) {
        char c = text[i];
        if ((c == '4' || c == '5') && (i == 0 || text[i - 1] == ' ') &&
            std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isdigit(static_cast<unsigned char>(text[i + 2])) &&
            (i + 3 == text.size() || text[i + 3] == ' ' || text[i + 3] == '-'))
            return c == '5' ? BounceType::hard : BounceType::soft;
    }
    return BounceType::soft;
}

std::string bounded(std::string_view text) {
    if (text.size() <= kMaxDeliverMessage) return std::string(text);
    // Cut on a UTF-8 character boundary.
    size_t n = kMaxDeliverMessage - 3;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return std::string(text.substr(0, n)) + "...";
}

std::optional<Change> apply(RecipientState& st, const Outcome& o) {
    const bool open = st.deliver == Deliver::accepted || st.deliver == Deliver::delayed;
    auto moved = [&](Deliver to) {
        st.deliver = to;
        st.deliver_time = o.time;
        st.deliver_message = bounded(o.text);
    };
    Change c{EventType::delivered};
    switch (o.kind) {
        case Outcome::Kind::sent:
            if (!open) return std::nullopt;
            moved(Deliver::delivered);
            c.count_delivered = true;
            return c;
        case Outcome::Kind::deferred:
            if (!open) return std::nullopt;
            moved(Deliver::delayed);
            c.event = EventType::deferred;
            c.count_deferred = !st.deferred_once;  // DeferredCount: recipients, not attempts
            st.deferred_once = true;
            return c;
        case Outcome::Kind::bounced:
            // A bounce may follow a delivery: the next hop accepted, then a DSN
            // came back to the return path.
            if (!open && st.deliver != Deliver::delivered) return std::nullopt;
            moved(Deliver::bounced);
            st.bounce = classify_bounce(o.dsn, o.text);
            c.event = EventType::bounce;
            c.bounce = st.bounce;
            c.count_bounce = true;
            return c;
        case Outcome::Kind::expired:
            if (!open) return std::nullopt;
            moved(Deliver::bounced);
            st.bounce = BounceType::soft;
            c.event = EventType::bounce;
            c.bounce = st.bounce;
            c.count_bounce = true;
            return c;
        case Outcome::Kind::complaint:
            if (st.complained) return std::nullopt;
            st.complained = true;
            c.event = EventType::spamreport;
            c.count_complaint = true;
            return c;
        case Outcome::Kind::dropped:
            if (st.deliver != Deliver::accepted) return std::nullopt;
            moved(Deliver::dropped);
            c.event = EventType::dropped;
            return c;
        case Outcome::Kind::unsubscribe:
            if (st.unsubscribed) return std::nullopt;
            st.unsubscribed = true;
            c.event = EventType::unsubscribe;
            c.count_unsubscribe = true;
            return c;
        case Outcome::Kind::auto_reply:
            // Every reply is an event; it changes no status.
            c.event = EventType::auto_reply;
            return c;
        case Outcome::Kind::open:
            // Every open is an event (a repeated one too); the first is unique.
            c.event = EventType::open;
            c.count_open = true;
            c.count_unique_open = !st.opened;
            st.opened = true;
            return c;
        case Outcome::Kind::click:
            c.event = EventType::click;
            c.count_click = true;
            c.count_unique_click = !st.clicked;
            st.clicked = true;
            return c;
    }
    return std::nullopt;
}

}  // namespace ses::records
