// delivery.cpp -- see delivery.hpp.
#include "records/delivery.hpp"

#include <ctime>
#include <vector>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kV1 = 1;

std::string encode_position(const mta::LogPosition& p) {
    store::Writer w;
    w.u8(kV1).u64(p.inode).str(p.fingerprint).u64(p.offset);
    return w.take();
}

}  // namespace

std::optional<mta::LogPosition> decode_position(std::string_view v) {
    store::Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    mta::LogPosition p;
    p.inode = r.u64();
    p.fingerprint = r.str();
    p.offset = r.u64();
    if (!r.good()) return std::nullopt;
    return p;
}

namespace {

int month_of(std::string_view m) {
    static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i)
        if (m == kMonths[i]) return i;
    return -1;
}

}  // namespace

Outcome outcome_of(const mta::LogLine& l, int64_t time) {
    Outcome o;
    o.dsn = l.dsn;
    o.text = l.text;
    o.time = time;
    switch (l.status) {
        case mta::LogStatus::sent:
            o.kind = Outcome::Kind::sent;
            break;
        case mta::LogStatus::deferred:
        case mta::LogStatus::softbounce:
            o.kind = Outcome::Kind::deferred;
            break;
        case mta::LogStatus::bounced:
            o.kind = Outcome::Kind::bounced;
            break;
        case mta::LogStatus::expired:
            o.kind = Outcome::Kind::expired;
            break;
        case mta::LogStatus::requeued:
            break;  // not an outcome: poll_once moves the record to the new queue id
    }
    return o;
}

int64_t log_time(std::string_view stamp, int64_t now) {
    if (!stamp.empty() && stamp[0] >= '0' && stamp[0] <= '9') {
        // RFC 3339, possibly with fractional seconds, which parse_rfc3339 does not take.
        std::string s(stamp);
        if (auto dot = s.find('.', 19); dot != std::string::npos && dot == 19) {
            size_t end = s.find_first_not_of("0123456789", dot + 1);
            s.erase(dot, end == std::string::npos ? std::string::npos : end - dot);
        }
        return clock::parse_rfc3339(s).value_or(now);
    }
    if (stamp.size() < 15) return now;
    std::tm tm{};
    int mon = month_of(stamp.substr(0, 3));
    if (mon < 0 || std::sscanf(std::string(stamp.substr(4, 11)).c_str(), "%d %d:%d:%d", &tm.tm_mday, &tm.tm_hour,
                               &tm.tm_min, &tm.tm_sec) != 4)
        return now;
    std::time_t tnow = static_cast<std::time_t>(now);
    std::tm local{};
    localtime_r(&tnow, &local);
    tm.tm_mon = mon;
    tm.tm_year = local.tm_year;
    tm.tm_isdst = -1;
    int64_t t = static_cast<int64_t>(std::mktime(&tm));
    if (t > now + 86400) {  // "Dec 31" read in January
        tm.tm_year -= 1;
        tm.tm_isdst = -1;
        t = static_cast<int64_t>(std::mktime(&tm));
    }
    return t;
}

DeliveryTracker::DeliveryTracker(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> records,
                                 std::string log_path)
    : env_(std::move(env)), records_(std::move(records)), path_(std::move(log_path)) {}

mta::LogPosition DeliveryTracker::load_position() {
    mta::LogPosition pos;
    (void)env_->view([&](store::Txn& txn) {
        if (auto v = txn.get(env_->table(store::table::follower), path_))
            if (auto p = decode_position(*v)) pos = *p;
        return ok_status();
    });
    return pos;
}

Result<size_t> DeliveryTracker::poll_once(size_t batch) {
    if (!follower_) {
        committed_ = load_position();
        follower_ = std::make_unique<mta::LogFollower>(path_, committed_);
    }
    struct Line {
        mta::LogLine line;
        int64_t time;
    };
    std::vector<Line> lines;
    mta::LogPosition last = committed_;
    size_t n = 0;
    int64_t now = clock::now();
    std::vector<std::string> warnings;
    auto read = follower_->poll(
        [&](std::string_view text, const mta::LogPosition& after) {
            ++n;
            last = after;
            if (auto l = mta::parse_log_line(text)) lines.push_back({std::move(*l), 0});
        },
        batch, [&](const std::string& w) { warnings.push_back(w); });
    for (auto& w : warnings)
        if (on_warning) on_warning("log follower: " + w);
    if (!read) {
        follower_.reset();
        return read.error();
    }
    if (n == 0 && follower_->position() == committed_) return size_t{0};
    if (n == 0) last = follower_->position();  // moved to a new, still empty file
    for (auto& l : lines) l.time = log_time(l.line.stamp, now);

    Status st = env_->update([&](store::Txn& txn) -> Status {
        for (auto& [l, t] : lines) {
            if (l.status == mta::LogStatus::requeued) {
                // postsuper -r (a held message released near its queue
                // lifetime): later lines name the new queue id.
                if (auto st = records_->requeued(txn, l.orig_id, l.queue_id, now); !st) return st;
                continue;
            }
            auto id = records_->by_queue_id(txn, l.queue_id, now);
            if (!id) continue;
            std::string rcpt = l.to;
            if (!l.orig_to.empty()) {
                auto rec = records_->get(txn, *id);
                if (rec && rec->recipient(l.orig_to)) rcpt = l.orig_to;
            }
            auto events = records_->apply(txn, *id, l.status == mta::LogStatus::expired ? "" : rcpt, outcome_of(l, t));
            if (!events) return events.error();
            if (on_event && !events->empty())
                if (auto rec = records_->get(txn, *id))
                    for (auto& e : *events) on_event(txn, *rec, e);
        }
        txn.put(env_->table(store::table::follower), path_, encode_position(last));
        return txn.status();
    });
    if (!st) {
        follower_.reset();  // read the same lines again from the committed position
        return st.error();
    }
    committed_ = last;
    return n;
}

}  // namespace ses::records
