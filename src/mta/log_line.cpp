// log_line.cpp -- see log_line.hpp.
#include "mta/log_line.hpp"

#include <cctype>

namespace ses::mta {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Takes characters up to (not including) `stop`, or the rest.
std::string_view take_until(std::string_view& s, char stop) {
    size_t i = s.find(stop);
    std::string_view out = s.substr(0, i);
    s.remove_prefix(i == std::string_view::npos ? s.size() : i);
    return out;
}

bool skip(std::string_view& s, std::string_view prefix) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    s.remove_prefix(prefix.size());
    return true;
}

// "Nov 27 15:24:44 " (classic syslog, day padded with a space) or an RFC 3339
// stamp as rsyslog writes it by default ("2026-11-27T15:24:44.123+00:00 ").
bool take_stamp(std::string_view& s, std::string& out) {
    if (s.empty()) return false;
    if (is_digit(s[0])) {
        out = take_until(s, ' ');
        return skip(s, " ");
    }
    constexpr size_t n = 15;  // "Mmm dd hh:mm:ss"
    if (s.size() <= n || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' || s[n] != ' ') return false;
    out = s.substr(0, n);
    s.remove_prefix(n + 1);
    return true;
}

bool queue_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// One "key=value" of the field list.  Addresses in <> may hold ", " inside a
// quoted local part, so they end at the '>' that precedes ", " or the end.
bool take_field(std::string_view& s, std::string_view& key, std::string_view& value) {
    key = take_until(s, '=');
    if (!skip(s, "=")) return false;
    if (!s.empty() && s[0] == '<') {
        size_t i = 0;
        for (;;) {
            i = s.find('>', i + 1);
            if (i == std::string_view::npos) return false;
            // Sendmail follows ctladdr=<...> with " (uid/gid)".
            if (i + 1 == s.size() || s.substr(i + 1, 2) == ", " || s.substr(i + 1, 2) == " (") break;
        }
        value = s.substr(1, i - 1);
        s.remove_prefix(i + 1);
        size_t next = s.find(", ");
        s.remove_prefix(next == std::string_view::npos ? s.size() : next);
    } else {
        size_t i = s.find(", ");
        value = s.substr(0, i);
        s.remove_prefix(i == std::string_view::npos ? s.size() : i);
    }
    skip(s, ", ");
    return true;
}

// "sent (250 2.0.0 Ok)" -> word "sent", text "250 2.0.0 Ok".  The text runs to
// the last ')' of the line: replies quote other replies.
void split_status(std::string_view rest, std::string_view& word, std::string& text) {
    size_t sp = rest.find_first_of(" ,");
    word = rest.substr(0, sp);
    text.clear();
    if (sp == std::string_view::npos) return;
    std::string_view t = rest.substr(sp);
    size_t open = t.find('(');
    size_t close = t.rfind(')');
    if (open != std::string_view::npos && close != std::string_view::npos && close > open)
        text = t.substr(open + 1, close - open - 1);
}

std::optional<LogStatus> postfix_status(std::string_view w) {
    if (w == "sent") return LogStatus::sent;
    if (w == "deferred") return LogStatus::deferred;
    if (w == "bounced") return LogStatus::bounced;
    if (w == "SOFTBOUNCE") return LogStatus::softbounce;
    if (w == "expired" || w == "force-expired") return LogStatus::expired;
    return std::nullopt;  // deliverable/undeliverable (address probes), ...
}

// Sendmail writes "stat=Sent (id)", "stat=Deferred: reason", or the error
// text itself ("stat=User unknown"), whose class the dsn= field gives.
std::optional<LogStatus> sendmail_status(std::string_view v, std::string_view dsn, std::string& text) {
    if (v.substr(0, 4) == "Sent") {
        std::string_view w;
        split_status(v, w, text);
        return LogStatus::sent;
    }
    if (v.substr(0, 8) == "Deferred") {
        v.remove_prefix(8);
        skip(v, ":");
        skip(v, " ");
        text = v;
        return LogStatus::deferred;
    }
    if (v == "queued" || v.substr(0, 8) == "quarant") return std::nullopt;
    text = v;
    if (!dsn.empty() && dsn[0] == '5') return LogStatus::bounced;
    if (!dsn.empty() && dsn[0] == '4') return LogStatus::deferred;
    return std::nullopt;
}

}  // namespace

std::string_view status_name(LogStatus s) {
    switch (s) {
        case LogStatus::sent:
            return "sent";
        case LogStatus::deferred:
            return "deferred";
        case LogStatus::bounced:
            return "bounced";
        case LogStatus::softbounce:
            return "softbounce";
        case LogStatus::expired:
            return "expired";
        case LogStatus::requeued:
            return "requeued";
    }
    return "?";
}

std::optional<LogLine> parse_log_line(std::string_view s) {
    if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    LogLine l;
    if (!take_stamp(s, l.stamp)) return std::nullopt;
    l.host = take_until(s, ' ');
    if (!skip(s, " ")) return std::nullopt;
    std::string_view prog = take_until(s, ':');
    if (!skip(s, ": ")) return std::nullopt;
    l.program = prog.substr(0, prog.find('['));
    bool sendmail = l.program.find("postfix") == std::string::npos;
    std::string_view qid = take_until(s, ':');
    if (qid.empty() || qid.size() > 32) return std::nullopt;
    for (char c : qid)
        if (!queue_id_char(c)) return std::nullopt;
    l.queue_id = qid;
    if (!skip(s, ": ")) return std::nullopt;

    // pickup's fields are separated by spaces: "uid=0 from=<s@d> orig_id=QID".
    if (l.program == "postfix/pickup" ||
        (l.program.size() > 7 && std::string_view(l.program).substr(l.program.size() - 7) == "/pickup")) {
        size_t at = s.rfind(" orig_id=");
        if (at == std::string_view::npos) return std::nullopt;
        std::string_view orig = s.substr(at + 9);
        if (orig.empty() || orig.size() > 32) return std::nullopt;
        for (char c : orig)
            if (!queue_id_char(c)) return std::nullopt;
        l.orig_id = orig;
        l.status = LogStatus::requeued;
        return l;
    }

    bool per_message = false;
    std::string_view key, value, dsn;
    while (!s.empty()) {
        std::string_view before = s;
        if (s.substr(0, 7) == "status=" || (sendmail && s.substr(0, 5) == "stat=")) {
            key = take_until(s, '=');
            skip(s, "=");
            value = s;
            s = {};
        } else if (!take_field(s, key, value) || s == before) {
            return std::nullopt;
        }
        if (key == "to") {
            l.to = value;
        } else if (key == "orig_to") {
            l.orig_to = value;
        } else if (key == "from") {
            per_message = true;
        } else if (key == "relay") {
            l.relay = value;
        } else if (key == "dsn") {
            dsn = value;
            l.dsn = value;
        } else if (key == "status") {
            std::string_view word;
            split_status(value, word, l.text);
            auto st = postfix_status(word);
            if (!st) return std::nullopt;
            l.status = *st;
            // Expiry is logged once per message (from=, no to=); every other
            // status names its recipient.
            bool expired = l.status == LogStatus::expired;
            if (expired ? !(per_message && l.to.empty()) : l.to.empty()) return std::nullopt;
            return l;
        } else if (key == "stat") {
            if (l.to.empty()) return std::nullopt;
            auto st = sendmail_status(value, dsn, l.text);
            if (!st) return std::nullopt;
            l.status = *st;
            return l;
        }
    }
    return std::nullopt;
}

}  // namespace ses::mta
