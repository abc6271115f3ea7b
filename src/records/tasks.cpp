// tasks.cpp -- see tasks.hpp.
#include "records/tasks.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"

namespace ses::records {
namespace {

using nlohmann::json;

constexpr uint8_t kTaskVersion = 1;
constexpr uint8_t kRcptVersion = 1;
constexpr std::string_view kSeqKey = "task_seq";

std::string u64_key(uint64_t id) {
    std::string k;
    store::put_u64be(k, id);
    return k;
}

std::string rcpt_prefix(uint64_t id, uint32_t run) {
    std::string k = u64_key(id);
    store::put_u32be(k, run);
    return k;
}

std::string encode(const Task& t) {
    store::Writer w;
    w.u8(kTaskVersion)
        .u8(static_cast<uint8_t>(t.type))
        .str(t.from)
        .str(t.subject)
        .str(t.template_name)
        .u64(t.group)
        .i64(t.begin)
        .i64(t.interval)
        .u8(t.term_cycle)
        .i64(t.end)
        .u32(t.max_runs)
        .i64(t.created)
        .u8(static_cast<uint8_t>(t.status))
        .str(t.error)
        .u32(t.run)
        .i64(t.next_run)
        .u32(static_cast<uint32_t>(t.paused_day))
        .str(t.cursor)
        .str(t.batch_end)
        .u64(t.requested)
        .u64(t.sent)
        .u64(t.skipped)
        .u64(t.failed)
        .u64(t.resubmitted);
    return w.take();
}

std::optional<Task> decode(uint64_t id, std::string_view v) {
    store::Reader r(v);
    if (r.u8() != kTaskVersion) return std::nullopt;
    Task t;
    t.id = id;
    t.type = r.u8();
    t.from = r.str();
    t.subject = r.str();
    t.template_name = r.str();
    t.group = r.u64();
    t.begin = r.i64();
    t.interval = r.i64();
    t.term_cycle = r.u8() != 0;
    t.end = r.i64();
    t.max_runs = r.u32();
    t.created = r.i64();
    t.status = static_cast<TaskStatus>(r.u8());
    t.error = r.str();
    t.run = r.u32();
    t.next_run = r.i64();
    t.paused_day = static_cast<int32_t>(r.u32());
    t.cursor = r.str();
    t.batch_end = r.str();
    t.requested = r.u64();
    t.sent = r.u64();
    t.skipped = r.u64();
    t.failed = r.u64();
    t.resubmitted = r.u64();
    if (!r.good()) return std::nullopt;
    return t;
}

bool ascii_printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= ' ' && c < 0x7f; });
}

// A JSON field that is a string, or nullopt; wrong type: error text.
std::optional<std::string> str_field(const json& j, const char* name, std::string& err) {
    if (!j.contains(name) || j[name].is_null()) return std::nullopt;
    if (!j[name].is_string()) {
        err = std::string(name) + ": not a string";
        return std::nullopt;
    }
    return j[name].get<std::string>();
}

}  // namespace

std::string_view task_status_name(TaskStatus s) {
    switch (s) {
        case TaskStatus::pending:
            return "pending";
        case TaskStatus::sending:
            return "sending";
        case TaskStatus::paused_today:
            return "paused for today";
        case TaskStatus::error:
            return "error";
        case TaskStatus::paused:
            return "paused";
        case TaskStatus::cancelled:
            return "cancelled";
        case TaskStatus::done:
            return "done";
    }
    return "unknown";
}

std::optional<int64_t> parse_task_time(std::string_view s, std::string_view tz) {
    if (s.size() != 19 || s[10] != ' ') return std::nullopt;
    std::string zone = "Z";
    if (!tz.empty() && tz != "UTC" && tz != "Z") {
        if (tz.size() != 6 || (tz[0] != '+' && tz[0] != '-') || tz[3] != ':') return std::nullopt;
        zone = std::string(tz);
    }
    std::string text = std::string(s.substr(0, 10)) + "T" + std::string(s.substr(11)) + zone;
    return clock::parse_rfc3339(text);
}

std::string format_task_time(int64_t t) {
    std::string r = clock::format_rfc3339(t);  // 2026-11-23T10:00:00Z
    if (r.size() >= 19) r = r.substr(0, 10) + " " + r.substr(11, 8);
    return r;
}

Result<Task> parse_task_request(std::string_view text, int64_t now) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error{"the body is not a JSON object", {}};
    Task t;
    t.created = now;
    std::string err;
    if (!j.contains("TaskType") || !j["TaskType"].is_number_integer()) return Error{"TaskType: 1, 2 or 3", {}};
    t.type = j["TaskType"].get<int>();
    if (t.type < 1 || t.type > 3) return Error{"TaskType: 1, 2 or 3", {}};
    auto from = str_field(j, "FromEmailAddress", err);
    if (!err.empty()) return Error{err, {}};
    if (!from || from->find('@') == std::string::npos) return Error{"FromEmailAddress: an address is required", {}};
    t.from = *from;
    if (!ascii_printable(t.from)) return Error{"FromEmailAddress: printable ASCII only", {}};
    const char* group_field = j.contains("GroupId") ? "GroupId" : "ReceiverId";
    if (!j.contains(group_field) || !j[group_field].is_number_unsigned() || j[group_field].get<uint64_t>() == 0)
        return Error{"GroupId (or ReceiverId): a group id is required", {}};
    t.group = j[group_field].get<uint64_t>();
    auto subject = str_field(j, "Subject", err);
    if (!err.empty()) return Error{err, {}};
    t.subject = subject.value_or("");
    // The Subject goes into a header line as it is: keep it plain ASCII
    // (the template's own subject, which the milter encodes, covers the rest).
    if (!ascii_printable(t.subject) || t.subject.size() > 900)
        return Error{"Subject: printable ASCII, at most 900 characters (set a non-ASCII subject in the template)", {}};
    if (!j.contains("Template") || !j["Template"].is_object()) return Error{"Template: {TemplateName} is required", {}};
    auto name = str_field(j["Template"], "TemplateName", err);
    if (!err.empty()) return Error{"Template." + err, {}};
    if (!name || name->empty() || !ascii_printable(*name)) return Error{"Template.TemplateName is required", {}};
    t.template_name = *name;
    auto tz = str_field(j, "TimeZone", err);
    if (!err.empty()) return Error{err, {}};
    auto when = [&](const json& p, const char* obj) -> Result<int64_t> {
        std::string e;
        auto b = str_field(p, "BeginTime", e);
        if (!b) return Error{std::string(obj) + ".BeginTime: \"YYYY-MM-DD HH:MM:SS\" is required", {}};
        auto v = parse_task_time(*b, tz.value_or(""));
        if (!v)
            return Error{std::string(obj) + ".BeginTime: not \"YYYY-MM-DD HH:MM:SS\" (or a bad TimeZone): " + *b, {}};
        return *v;
    };
    t.begin = now;
    if (t.type == 2) {
        if (!j.contains("TimedParam") || !j["TimedParam"].is_object())
            return Error{"TimedParam: {BeginTime} is required", {}};
        auto b = when(j["TimedParam"], "TimedParam");
        if (!b) return b.error();
        t.begin = *b;
    } else if (t.type == 3) {
        if (!j.contains("CycleParam") || !j["CycleParam"].is_object())
            return Error{"CycleParam: {BeginTime, IntervalTime} is required", {}};
        const json& c = j["CycleParam"];
        auto b = when(c, "CycleParam");
        if (!b) return b.error();
        t.begin = *b;
        if (!c.contains("IntervalTime") || !c["IntervalTime"].is_number_integer() ||
            c["IntervalTime"].get<int64_t>() < 1 || c["IntervalTime"].get<int64_t>() > 24 * 366)
            return Error{"CycleParam.IntervalTime: hours, 1 or more", {}};
        t.interval = c["IntervalTime"].get<int64_t>() * 3600;
        if (c.contains("TermCycle")) {
            if (!c["TermCycle"].is_number_integer() || c["TermCycle"].get<int>() < 0 || c["TermCycle"].get<int>() > 1)
                return Error{"CycleParam.TermCycle: 0 or 1", {}};
            t.term_cycle = c["TermCycle"].get<int>() == 1;
        }
        if (c.contains("EndTime")) {
            auto e = str_field(c, "EndTime", err);
            auto v = e ? parse_task_time(*e, tz.value_or("")) : std::nullopt;
            if (!v) return Error{"CycleParam.EndTime: not \"YYYY-MM-DD HH:MM:SS\"", {}};
            t.end = *v;
        }
        if (c.contains("MaxRuns")) {
            if (!c["MaxRuns"].is_number_unsigned()) return Error{"CycleParam.MaxRuns: a count", {}};
            t.max_runs = c["MaxRuns"].get<uint32_t>();
        }
    }
    t.next_run = t.begin;
    return t;
}

Tasks::Tasks(std::shared_ptr<store::Env> env)
    : env_(std::move(env)),
      tasks_(env_->table(store::table::tasks)),
      rcpts_(env_->table(store::table::task_rcpts)),
      meta_(env_->table(store::table::meta)) {}

Result<uint64_t> Tasks::create(Task t) {
    uint64_t id = 0;
    Status st = env_->update([&](store::Txn& txn) -> Status {
        auto v = txn.get(meta_, kSeqKey);
        id = (v ? store::get_u64be(*v) : 0) + 1;
        txn.put(meta_, kSeqKey, u64_key(id));
        t.id = id;
        txn.put(tasks_, u64_key(id), encode(t));
        return txn.status();
    });
    if (!st) return st.error();
    return id;
}

Result<std::vector<Task>> Tasks::list() const {
    std::vector<Task> out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, tasks_);
        for (bool ok = c.first(); ok; ok = c.next())
            if (auto t = decode(store::get_u64be(c.key()), c.value())) out.push_back(std::move(*t));
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

std::optional<Task> Tasks::get(store::Txn& txn, uint64_t id) const {
    auto v = txn.get(tasks_, u64_key(id));
    if (!v) return std::nullopt;
    return decode(id, *v);
}

Result<std::optional<Task>> Tasks::get(uint64_t id) const {
    std::optional<Task> out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        out = get(txn, id);
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

void Tasks::put(store::Txn& txn, const Task& t) const { txn.put(tasks_, u64_key(t.id), encode(t)); }

Result<Task> Tasks::control(uint64_t id, std::string_view action) {
    Task out;
    Status st = env_->update([&](store::Txn& txn) -> Status {
        auto t = get(txn, id);
        if (!t) return Error{"no task " + std::to_string(id), {}};
        auto refuse = [&]() -> Status {
            return Error{"task " + std::to_string(id) + " is " + std::string(task_status_name(t->status)) +
                             ": cannot " + std::string(action),
                         {}};
        };
        if (action == "pause") {
            if (t->status != TaskStatus::pending && t->status != TaskStatus::sending &&
                t->status != TaskStatus::paused_today)
                return refuse();
            t->status = TaskStatus::paused;
        } else if (action == "resume") {
            if (t->status != TaskStatus::paused && t->status != TaskStatus::error) return refuse();
            t->status = TaskStatus::pending;
            t->error.clear();
        } else if (action == "cancel") {
            if (t->status == TaskStatus::done || t->status == TaskStatus::cancelled) return refuse();
            t->status = TaskStatus::cancelled;
        } else {
            return Error{"unknown action " + std::string(action) + " (pause, resume, cancel)", {}};
        }
        put(txn, *t);
        out = *t;
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

std::optional<TaskRcpt> Tasks::rcpt(store::Txn& txn, uint64_t id, uint32_t run, std::string_view key) const {
    auto v = txn.get(rcpts_, rcpt_prefix(id, run) + std::string(key));
    if (!v) return std::nullopt;
    store::Reader r(*v);
    if (r.u8() != kRcptVersion) return std::nullopt;
    TaskRcpt out;
    out.key = std::string(key);
    out.state = static_cast<RcptState>(r.u8());
    out.email = r.str();
    out.message_id = r.str();
    out.attempts = r.u32();
    out.next_try = r.i64();
    out.reply = r.str();
    if (!r.good()) return std::nullopt;
    return out;
}

void Tasks::put_rcpt(store::Txn& txn, uint64_t id, uint32_t run, const TaskRcpt& r) const {
    store::Writer w;
    w.u8(kRcptVersion)
        .u8(static_cast<uint8_t>(r.state))
        .str(r.email)
        .str(r.message_id)
        .u32(r.attempts)
        .i64(r.next_try)
        .str(r.reply);
    txn.put(rcpts_, rcpt_prefix(id, run) + r.key, w.bytes());
}

std::vector<TaskRcpt> Tasks::rcpts(store::Txn& txn, uint64_t id, uint32_t run, std::string_view after,
                                   std::string_view upto) const {
    std::vector<TaskRcpt> keys;
    std::string prefix = rcpt_prefix(id, run);
    std::vector<std::string> found;
    {
        store::Cursor c(txn, rcpts_);
        bool ok = c.seek(prefix + std::string(after));
        if (ok && !after.empty() && c.key().substr(prefix.size()) == after) ok = c.next();
        for (; ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
            std::string_view k = c.key().substr(prefix.size());
            if (k > upto) break;
            found.emplace_back(k);
        }
    }
    for (const auto& k : found)
        if (auto r = rcpt(txn, id, run, k)) keys.push_back(std::move(*r));
    return keys;
}

}  // namespace ses::records
