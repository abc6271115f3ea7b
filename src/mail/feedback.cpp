// feedback.cpp -- see feedback.hpp.
#include "mail/feedback.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <utility>

#include "mail/address.hpp"
#include "util/strings.hpp"

namespace ses::mail {
namespace {

struct Unref {
    void operator()(void* p) const {
        if (p) g_object_unref(p);
    }
};
template <class T>
using Ref = std::unique_ptr<T, Unref>;

using Fields = std::vector<std::pair<std::string, std::string>>;  // lower-case name, value

Fields fields_of(GMimeObject* obj) {
    Fields out;
    GMimeHeaderList* list = g_mime_object_get_header_list(obj);
    int n = list ? g_mime_header_list_get_count(list) : 0;
    for (int i = 0; i < n; ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* name = g_mime_header_get_name(h);
        const char* value = g_mime_header_get_value(h);
        if (name) out.emplace_back(str::lower(name), value ? std::string(str::trim(value)) : std::string());
    }
    return out;
}

std::string field(const Fields& f, std::string_view name) {
    for (auto& [n, v] : f)
        if (n == name) return v;
    return {};
}

// The decoded content of a leaf part.
std::string part_text(GMimeObject* obj) {
    if (!GMIME_IS_PART(obj)) return {};
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(obj));
    if (!content) return {};
    Ref<GMimeStream> out{g_mime_stream_mem_new()};
    g_mime_data_wrapper_write_to_stream(content, out.get());
    GByteArray* ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return ba ? std::string(reinterpret_cast<const char*>(ba->data), ba->len) : std::string();
}

// A block of "Name: value" lines, read by GMime's header parser (folding,
// encoded words) as the header of an empty part.
Fields parse_fields(std::string_view block) {
    std::string text(block);
    text += "\n\n";
    Ref<GMimeStream> in{g_mime_stream_mem_new_with_buffer(text.data(), text.size())};
    Ref<GMimeParser> parser{g_mime_parser_new_with_stream(in.get())};
    Ref<GMimeObject> part{g_mime_parser_construct_part(parser.get(), nullptr)};
    return part ? fields_of(part.get()) : Fields{};
}

// message/delivery-status content: groups of fields separated by blank lines.
std::vector<Fields> field_groups(std::string_view text) {
    std::vector<Fields> out;
    std::string block;
    auto flush = [&] {
        if (str::trim(block).empty()) return;
        out.push_back(parse_fields(block));
        block.clear();
    };
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (str::trim(line).empty()) {
            flush();
        } else {
            block.append(line);
            block += '\n';
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    flush();
    return out;
}

// "rfc822; bob@example.net" -> "bob@example.net"; "smtp; 550 ..." -> "550 ...".
std::string after_type(std::string_view v) {
    if (auto semi = v.find(';'); semi != std::string_view::npos) v.remove_prefix(semi + 1);
    v = str::trim(v);
    if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
    return std::string(v);
}

std::string strip_angles(std::string_view v) {
    v = str::trim(v);
    if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
    return std::string(v);
}

void take_original(Feedback& fb, const Fields& f) {
    if (fb.ses_message_id.empty()) fb.ses_message_id = field(f, "x-ses-message-id");
    if (fb.cfbl_feedback_id.empty()) fb.cfbl_feedback_id = field(f, "cfbl-feedback-id");
    if (fb.original_message_id.empty()) fb.original_message_id = strip_angles(field(f, "message-id"));
}

void read_original(Feedback& fb, GMimeObject* part) {
    if (GMIME_IS_MESSAGE_PART(part)) {
        GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
        if (m) take_original(fb, fields_of(GMIME_OBJECT(m)));
    } else {
        std::string text = part_text(part);
        auto groups = field_groups(text);
        if (!groups.empty()) take_original(fb, groups.front());
    }
}

bool type_is(GMimeObject* obj, const char* type, const char* subtype) {
    GMimeContentType* ct = g_mime_object_get_content_type(obj);
    return ct && g_mime_content_type_is_type(ct, type, subtype);
}

void read_dsn(Feedback& fb, GMimeObject* part) {
    auto groups = field_groups(part_text(part));
    if (groups.empty()) return;
    fb.reporting_mta = after_type(field(groups.front(), "reporting-mta"));
    for (size_t i = 1; i < groups.size(); ++i) {
        const Fields& g = groups[i];
        FeedbackRecipient r;
        r.address = after_type(field(g, "final-recipient"));
        r.original = after_type(field(g, "original-recipient"));
        r.action = str::lower(field(g, "action"));
        r.status = std::string(str::trim(field(g, "status")));
        if (auto sp = r.status.find_first_of(" ("); sp != std::string::npos) r.status.resize(sp);
        r.diagnostic = after_type(field(g, "diagnostic-code"));
        if (!r.address.empty() || !r.original.empty()) fb.recipients.push_back(std::move(r));
    }
}

void read_arf(Feedback& fb, GMimeObject* part) {
    auto groups = field_groups(part_text(part));
    if (groups.empty()) return;
    const Fields& f = groups.front();
    fb.feedback_type = str::lower(field(f, "feedback-type"));
    fb.reporting_mta = after_type(field(f, "reporting-mta"));
    if (fb.reporting_mta.empty()) fb.reporting_mta = field(f, "user-agent");
    for (auto& [n, v] : f)
        if (n == "original-rcpt-to") fb.recipients.push_back({strip_angles(v), {}, "complaint", {}, {}});
}

bool auto_reply(const Fields& top) {
    std::string as = str::lower(field(top, "auto-submitted"));
    if (as.rfind("auto-replied", 0) == 0) return true;
    for (auto& [n, v] : top)
        if (n == "x-autoreply" || n == "x-autorespond" || n == "x-autoresponder") return true;
    if (str::lower(field(top, "precedence")) == "auto_reply") return true;
    std::string subject = str::lower(field(top, "subject"));
    for (const char* p : {"out of office", "automatic reply", "auto:", "autoreply", "auto-reply", "abwesenheit"})
        if (subject.rfind(p, 0) == 0) return true;
    return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "5.1.1" at p: class, 1-3 digits, 1-3 digits.
size_t enhanced_at(std::string_view s, size_t p) {
    if (p + 5 > s.size() || (s[p] != '4' && s[p] != '5') || s[p + 1] != '.') return 0;
    size_t i = p + 2, d = 0;
    while (i < s.size() && is_digit(s[i]) && d < 3) ++i, ++d;
    if (!d || i >= s.size() || s[i] != '.') return 0;
    ++i;
    d = 0;
    while (i < s.size() && is_digit(s[i]) && d < 3) ++i, ++d;
    return d ? i - p : 0;
}

// The SMTP reply a line carries: basic code and enhanced code (either may
// be empty).  Codes start a word ("550", "(#5.1.1)", "said: 550").
void reply_in(std::string_view line, std::string& code, std::string& xcode) {
    for (size_t i = 0; i < line.size(); ++i) {
        bool word_start = i == 0 || line[i - 1] == ' ' || line[i - 1] == '(' || line[i - 1] == '#';
        if (!word_start) continue;
        if (xcode.empty())
            if (size_t n = enhanced_at(line, i)) xcode = line.substr(i, n);
        if (code.empty() && i + 3 <= line.size() && (line[i] == '4' || line[i] == '5') && is_digit(line[i + 1]) &&
            is_digit(line[i + 2]) && (i + 3 == line.size() || line[i + 3] == ' ' || line[i + 3] == '-'))
            code = line.substr(i, 3);
    }
}

bool addr_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+' || c == '=' ||
           c == '@';
}

// Does `line` name `addr` (case-insensitive, as a whole address)?
bool names(std::string_view line, std::string_view addr) {
    if (addr.empty()) return false;
    std::string l = str::lower(line), a = str::lower(addr);
    for (size_t at = l.find(a); at != std::string::npos; at = l.find(a, at + 1)) {
        bool before = at == 0 || !addr_char(l[at - 1]);
        size_t end = at + a.size();
        bool after =
            end == l.size() || !addr_char(l[end]) || (l[end] == '.' && (end + 1 == l.size() || l[end + 1] == ' '));
        if (before && after) return true;
    }
    return false;
}

// Where the returned copy of the message starts in a bounce's text (its
// headers name every recipient), or npos.
size_t returned_copy_at(std::string_view text) {
    static constexpr std::string_view kMarks[] = {"this is a copy of the message",             // Exim
                                                  "below this line is a copy of the message",  // qmail
                                                  "original message follows",
                                                  "----- original message -----",
                                                  "------ original message",
                                                  "unsent message below",
                                                  "the original message was received"};
    std::string l = str::lower(text.substr(0, 65536));
    size_t best = std::string_view::npos;
    for (auto m : kMarks) {
        size_t at = l.find(m);
        if (at == std::string::npos) continue;
        size_t line_start = l.rfind('\n', at);
        at = line_start == std::string::npos ? 0 : line_start + 1;
        best = std::min(best, at);
    }
    return best;
}

// A plain-text bounce: lines that name an address and an SMTP reply.
void read_plain_bounce(Feedback& fb, std::string_view text) {
    size_t pos = 0;
    while (pos < text.size() && fb.recipients.size() < 100) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        std::string code, xcode, addr;
        for (size_t i = 0; i < line.size(); ++i) {
            bool word_start = i == 0 || line[i - 1] == ' ' || line[i - 1] == '(' || line[i - 1] == '#';
            if (!word_start) continue;
            if (xcode.empty())
                if (size_t n = enhanced_at(line, i)) xcode = line.substr(i, n);
            if (code.empty() && i + 3 <= line.size() && (line[i] == '4' || line[i] == '5') && is_digit(line[i + 1]) &&
                is_digit(line[i + 2]) && (i + 3 == line.size() || line[i + 3] == ' ' || line[i + 3] == '-'))
                code = line.substr(i, 3);
        }
        if (code.empty() && xcode.empty()) continue;
        for (size_t at = line.find('@'); at != std::string_view::npos && addr.empty(); at = line.find('@', at + 1)) {
            size_t b = at, e = at;
            while (b > 0 && !std::isspace(static_cast<unsigned char>(line[b - 1])) && line[b - 1] != '<' &&
                   line[b - 1] != '(' && line[b - 1] != ':')
                --b;
            while (e < line.size() && !std::isspace(static_cast<unsigned char>(line[e])) && line[e] != '>' &&
                   line[e] != ')' && line[e] != ',' && line[e] != ';')
                ++e;
            std::string_view cand = line.substr(b, e - b);
            while (!cand.empty() && (cand.back() == '.' || cand.back() == ':')) cand.remove_suffix(1);
            if (cand.find('.', cand.find('@')) != std::string_view::npos && cand.front() != '@') addr = cand;
        }
        if (addr.empty()) continue;
        char cls = !xcode.empty() ? xcode[0] : code[0];
        FeedbackRecipient r;
        r.address = addr;
        r.action = cls == '5' ? "failed" : "delayed";
        r.status = !xcode.empty() ? xcode : std::string(1, cls) + ".0.0";
        r.diagnostic = std::string(str::trim(line));
        fb.recipients.push_back(std::move(r));
    }
}

bool looks_like_bounce(const Fields& top, bool null_sender) {
    std::string from = str::lower(field(top, "from"));
    bool daemon =
        null_sender || from.find("mailer-daemon") != std::string::npos || from.find("postmaster") != std::string::npos;
    std::string subject = str::lower(field(top, "subject"));
    bool bouncy = false;
    for (const char* p : {"undeliver", "delivery status", "delivery fail", "failure notice", "returned mail",
                          "not delivered", "delivery has failed", "mail delivery", "bounce"})
        bouncy = bouncy || subject.find(p) != std::string::npos;
    return daemon && bouncy;
}

// The first text/plain leaf (or the body of a non-MIME message).
GMimeObject* first_text(GMimeObject* obj) {
    if (GMIME_IS_MULTIPART(obj)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
        for (int i = 0; i < n; ++i)
            if (GMimeObject* t = first_text(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i))) return t;
        return nullptr;
    }
    return GMIME_IS_PART(obj) && type_is(obj, "text", "plain") ? obj : nullptr;
}

}  // namespace

std::string_view feedback_kind_name(Feedback::Kind k) {
    switch (k) {
        case Feedback::Kind::none:
            return "none";
        case Feedback::Kind::dsn:
            return "dsn";
        case Feedback::Kind::complaint:
            return "complaint";
        case Feedback::Kind::auto_reply:
            return "auto_reply";
    }
    return "?";
}

std::vector<FeedbackRecipient> named_recipients(std::string_view text, const std::vector<std::string>& candidates) {
    std::vector<FeedbackRecipient> out;
    std::vector<bool> done(candidates.size(), false);
    std::vector<size_t> current;  // candidates named last in this paragraph, waiting for their reply
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (str::trim(line).empty()) {
            current.clear();  // a reply never reaches across a paragraph
            continue;
        }
        std::vector<size_t> here;
        for (size_t i = 0; i < candidates.size(); ++i)
            if (!done[i] && names(line, candidates[i])) here.push_back(i);
        if (!here.empty()) current = here;
        std::string code, xcode;
        reply_in(line, code, xcode);
        if (code.empty() && xcode.empty()) continue;
        for (size_t i : current) {
            if (done[i]) continue;
            done[i] = true;
            char cls = !xcode.empty() ? xcode[0] : code[0];
            FeedbackRecipient r;
            r.address = candidates[i];
            r.action = cls == '5' ? "failed" : "delayed";
            r.status = !xcode.empty() ? xcode : std::string(1, cls) + ".0.0";
            r.diagnostic = std::string(str::trim(line));
            out.push_back(std::move(r));
        }
        current.clear();
    }
    return out;
}

Feedback parse_feedback(std::string_view raw, bool null_sender) {
    init();
    Feedback fb;
    Ref<GMimeStream> in{g_mime_stream_mem_new_with_buffer(raw.data(), raw.size())};
    Ref<GMimeParser> parser{g_mime_parser_new_with_stream(in.get())};
    Ref<GMimeMessage> msg{g_mime_parser_construct_message(parser.get(), nullptr)};
    if (!msg) return fb;
    Fields top = fields_of(GMIME_OBJECT(msg.get()));
    GMimeObject* body = g_mime_message_get_mime_part(msg.get());
    if (body && GMIME_IS_MULTIPART(body) && type_is(body, "multipart", "report")) {
        const char* rt = g_mime_content_type_get_parameter(g_mime_object_get_content_type(body), "report-type");
        std::string report = rt ? str::lower(rt) : "";
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(body));
        for (int i = 0; i < n; ++i) {
            GMimeObject* p = g_mime_multipart_get_part(GMIME_MULTIPART(body), i);
            if (type_is(p, "message", "delivery-status") || type_is(p, "message", "global-delivery-status")) {
                read_dsn(fb, p);
            } else if (type_is(p, "message", "feedback-report")) {
                read_arf(fb, p);
            } else if (type_is(p, "message", "rfc822") || type_is(p, "message", "global") ||
                       type_is(p, "text", "rfc822-headers")) {
                read_original(fb, p);
            }
        }
        if (report == "delivery-status" || report == "global-delivery-status") {
            fb.kind = Feedback::Kind::dsn;
            fb.standard = true;
        } else if (report == "feedback-report") {
            fb.kind = Feedback::Kind::complaint;
            fb.standard = true;
        }
        if (fb.kind != Feedback::Kind::none) return fb;
    }
    // A mailer daemon's bounce first: Exim marks its bounces
    // "Auto-Submitted: auto-replied" too.
    if (body && looks_like_bounce(top, null_sender)) {
        if (GMimeObject* t = first_text(body)) {
            std::string text = part_text(t);
            std::string_view head = std::string_view(text).substr(0, returned_copy_at(text));
            fb.text = std::string(head.substr(0, 65536));
            read_plain_bounce(fb, fb.text);
            // The text may name a recipient on one line and the reply on
            // another: a caller that knows the recipients finds them
            // (named_recipients).  It is a bounce all the same.
            if (fb.recipients.empty()) {
                std::string code, xcode;
                for (auto& line : str::split(fb.text, '\n'))
                    if (code.empty() && xcode.empty()) reply_in(line, code, xcode);
                if (!code.empty() || !xcode.empty()) fb.kind = Feedback::Kind::dsn;
            }
        }
        // The returned message, when attached, names the original.
        if (GMIME_IS_MULTIPART(body)) {
            int n = g_mime_multipart_get_count(GMIME_MULTIPART(body));
            for (int i = 0; i < n; ++i) {
                GMimeObject* p = g_mime_multipart_get_part(GMIME_MULTIPART(body), i);
                if (type_is(p, "message", "rfc822") || type_is(p, "text", "rfc822-headers")) read_original(fb, p);
            }
        }
        if (!fb.recipients.empty()) fb.kind = Feedback::Kind::dsn;
        if (fb.kind == Feedback::Kind::dsn) return fb;
    }
    if (auto_reply(top)) {
        fb = Feedback{};
        fb.kind = Feedback::Kind::auto_reply;
    }
    return fb;
}

}  // namespace ses::mail
