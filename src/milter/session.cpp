// session.cpp -- see session.hpp.
#include "milter/session.hpp"

#include <algorithm>
#include <chrono>
#include <exception>

#include "mail/address.hpp"
#include "mail/domains.hpp"
#include "mail/replies.hpp"
#include "services/metrics.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

// The verdict as /metrics shows it (docs/metrics.md).
void count_verdict(const Verdict& v, std::chrono::steady_clock::duration took) {
    static constexpr const char* kNames[] = {"accept", "reject", "tempfail", "discard"};
    auto& reg = metrics::global();
    reg.inc(metrics::kMessages, {{"verdict", kNames[static_cast<int>(v.kind)]}});
    reg.observe(metrics::kEomSeconds, std::chrono::duration<double>(took).count());
}

Step step_for(const Verdict& v) {
    switch (v.kind) {
        case Verdict::Kind::accept:
            return Step{Step::Kind::accept, {}};
        case Verdict::Kind::reject:
            return Step{Step::Kind::reject, v.reply};
        case Verdict::Kind::discard:
            return Step{Step::Kind::discard, {}};
        case Verdict::Kind::tempfail:
            break;
    }
    return Step{Step::Kind::tempfail, v.reply};
}

void log_at(log::Level l, const std::string& line) { log::write(l, line); }

// The identity of the envelope sender's domain (as the pipeline resolves
// it, before From: is known) sets one_recipient_per_message.
bool one_recipient_sender(const config::Config& cfg, std::string_view mail_from) {
    std::vector<std::string> names;
    for (const auto& d : cfg.domains) names.push_back(d.name);
    int i = mail::covering_domain(names, mail::domain_of(mail_from), cfg.dkim.subdomains);
    return i >= 0 && cfg.domains[static_cast<size_t>(i)].one_recipient_per_message;
}

}  // namespace

Status apply_edits(const mail::Message& msg, bool leadspc, EditSink& sink) {
    auto value = [&](const std::string& v) { return leadspc ? " " + v : v; };
    bool body = false;
    for (auto& e : msg.edits()) {
        bool ok = true;
        switch (e.kind) {
            case mail::Edit::Kind::insert_header:
                ok = sink.insert_header(e.index, e.name, value(e.value));
                break;
            case mail::Edit::Kind::change_header:
                ok = sink.change_header(e.name, e.index, value(e.value));
                break;
            case mail::Edit::Kind::delete_header:
                ok = sink.delete_header(e.name, e.index);
                break;
            case mail::Edit::Kind::replace_body:
                body = true;
                break;
            case mail::Edit::Kind::quarantine:
                ok = sink.quarantine(e.value);
                break;
            case mail::Edit::Kind::change_from:
                ok = sink.change_from("<" + e.name + ">", e.value);
                break;
            case mail::Edit::Kind::delete_rcpt:
                ok = sink.delete_rcpt(e.name);
                break;
        }
        if (!ok) return internal_error("the MTA refused a message change (" + e.name + ")");
    }
    if (body) {
        // libmilter takes at most 64 KiB per call; an empty body is one empty call.
        const std::string& b = msg.body();
        constexpr size_t chunk = 65535;
        size_t off = 0;
        do {
            size_t n = std::min(chunk, b.size() - off);
            if (!sink.replace_body(std::string_view(b).substr(off, n)))
                return internal_error("the MTA refused the new body");
            off += n;
        } while (off < b.size());
    }
    return ok_status();
}

Session::Session(bool leadspc, NoReply nr, RuntimeSource source)
    : leadspc_(leadspc), nr_(nr), source_(std::move(source)) {}

std::string Session::qid() const { return msg_.env.queue_id.empty() ? "NOQUEUE" : msg_.env.queue_id; }

config::OnError Session::on_error() const {
    auto rt = rt_ ? rt_ : (source_ ? source_() : nullptr);
    return rt ? rt->cfg.milter.on_error : config::OnError::tempfail;
}

Step Session::internal_failure(std::string_view stage, std::string_view what, bool noreply) {
    Verdict v = verdict_for(internal_error(std::string(stage) + ": " + std::string(what)), on_error());
    log::error(qid() + ": " + v.log);
    if (noreply) {
        pending_ = v;
        return Step{};
    }
    return step_for(v);
}

// Every step runs inside this: an exception anywhere becomes the on_error
// answer and one log line, never a crash or a silent pass.
template <class F>
Step Session::guarded(std::string_view stage, bool noreply, F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return internal_failure(stage, e.what(), noreply);
    } catch (...) {
        return internal_failure(stage, "unknown exception", noreply);
    }
}

void Session::new_transaction() {
    msg_ = mail::Message{};
    msg_.env.client_addr = client_addr_;
    msg_.env.client_name = client_name_;
    msg_.env.helo = helo_;
    msg_.env.daemon_name = daemon_name_;
    over_ = false;
    pending_.reset();
    rt_ = source_ ? source_() : nullptr;
    size_.reset(rt_ ? rt_->cfg.milter.max_message_size : UINT64_MAX);
    in_txn_ = true;
}

std::optional<Step> Session::take_pending() {
    if (!pending_) return std::nullopt;
    Verdict v = *pending_;
    pending_.reset();
    return step_for(v);
}

Step Session::refuse_oversize(bool noreply) {
    Verdict v;
    v.kind = Verdict::Kind::reject;
    v.apply_edits = false;
    v.reply = size_reply(size_.limit());
    log::notice(qid() + ": reject: " + v.reply.str() + " from=<" + msg_.env.mail_from + ">");
    if (noreply) {
        pending_ = v;
        return Step{};
    }
    return step_for(v);
}

Step Session::connect(std::string client_name, std::string client_addr, std::string daemon_name) {
    client_name_ = std::move(client_name);
    client_addr_ = std::move(client_addr);
    daemon_name_ = std::move(daemon_name);
    return Step{};
}

Step Session::helo(std::string helo) {
    helo_ = std::move(helo);
    return Step{};
}

Step Session::mail(std::string_view arg, std::string auth_user, std::string queue_id) {
    return guarded("envfrom", nr_.mail, [&] {
        new_transaction();
        if (!rt_) throw std::runtime_error("no configuration loaded");
        msg_.env.mail_from = std::string(mail::strip_brackets(arg));
        msg_.env.auth_user = std::move(auth_user);
        msg_.env.queue_id = std::move(queue_id);
        return Step{};
    });
}

Step Session::refuse_transaction() {
    Verdict v;
    v.kind = Verdict::Kind::tempfail;
    v.apply_edits = false;
    v.reply = mail::make_reply(mail::ReplyReason::shutting_down);
    v.log = "tempfail: " + v.reply.str();
    if (nr_.mail) {
        pending_ = v;
        return Step{};
    }
    return step_for(v);
}

Step Session::rcpt(std::string raw) {
    return guarded("envrcpt", false, [&] {
        if (auto p = take_pending()) return *p;
        std::string_view addr = mail::strip_brackets(raw);
        if (rt_ && in_txn_) {
            auto refused = check_recipient(rt_->return_path, msg_.env.rcpts, addr);
            if (!refused && !msg_.env.rcpts.empty() && one_recipient_sender(rt_->cfg, msg_.env.mail_from))
                refused = mail::make_reply(mail::ReplyReason::one_recipient);
            if (refused) {
                log::notice(qid() + ": " + (refused->permanent() ? "reject" : "tempfail") + " RCPT: " + refused->str() +
                            " from=<" + msg_.env.mail_from + "> to=<" + std::string(addr) + ">");
                return Step{refused->permanent() ? Step::Kind::reject : Step::Kind::tempfail, *refused};
            }
        }
        msg_.env.rcpts.emplace_back(addr);
        msg_.env.rcpt_raw.push_back(std::move(raw));
        return Step{};
    });
}

Step Session::header(std::string_view name, std::string_view value) {
    return guarded("header", nr_.header, [&] {
        if (over_ || !in_txn_) return Step{};
        std::string v(value);
        if (!leadspc_) v.insert(0, " ");
        if (!size_.add_header(name, v)) {
            // Header replies are not waited for: refused at end of headers.
            over_ = true;
            return Step{};
        }
        msg_.feed_header(std::string(name), std::move(v));
        return Step{};
    });
}

Step Session::eoh() {
    return guarded("eoh", nr_.eoh, [&] {
        if (!in_txn_) return Step{};
        if (!over_ && !size_.add_separator()) over_ = true;
        if (over_ && !pending_) return refuse_oversize(nr_.eoh);
        return Step{};
    });
}

Step Session::body(std::string_view chunk) {
    return guarded("body", false, [&] {
        if (auto p = take_pending()) return *p;
        if (!in_txn_) return Step{};
        if (over_ || !size_.add_body(chunk.size())) {
            over_ = true;
            return refuse_oversize(false);
        }
        msg_.feed_body(chunk);
        return Step{};
    });
}

Step Session::finish(const Verdict& v) {
    std::string line = qid() + ": " + v.log + " from=<" + msg_.env.mail_from +
                       "> nrcpt=" + std::to_string(msg_.env.rcpts.size()) + " size=" + std::to_string(size_.used());
    log_at(log_level(v), line);
    return step_for(v);
}

Step Session::eom(std::string_view queue_id, EditSink& sink) {
    Step s = guarded("eom", false, [&] {
        if (auto p = take_pending()) return *p;
        if (!in_txn_ || !rt_) throw std::runtime_error("end of message without a transaction");
        if (over_) return refuse_oversize(false);
        if (!queue_id.empty()) msg_.env.queue_id = std::string(queue_id);
        auto started = std::chrono::steady_clock::now();
        Verdict v = end_of_message(msg_, *rt_);
        if (v.kind == Verdict::Kind::accept && v.apply_edits) {
            if (auto st = apply_edits(msg_, leadspc_, sink); !st) {
                // Edits before the refused one are already in the MTA's
                // copy; with on_error = accept it leaves unsigned.  The
                // record is not written: a tempfailed message comes again.
                v = verdict_for(st.error(), rt_->cfg.milter.on_error);
            } else {
                commit_after_edits(v, rt_->cfg.milter.on_error);
            }
        } else if (v.kind == Verdict::Kind::discard) {
            // Every recipient suppressed or simulated: no edit to apply,
            // the record still is written (or the message tempfailed).
            commit_after_edits(v, rt_->cfg.milter.on_error);
        }
        count_verdict(v, std::chrono::steady_clock::now() - started);
        return finish(v);
    });
    in_txn_ = false;
    over_ = false;
    pending_.reset();
    return s;
}

Step Session::abort() {
    msg_ = mail::Message{};
    in_txn_ = false;
    over_ = false;
    pending_.reset();
    return Step{};
}

}  // namespace ses::milter
