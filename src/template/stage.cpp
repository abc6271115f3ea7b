// stage.cpp -- see stage.hpp.
#include "template/stage.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "mail/replies.hpp"
#include "template/mime.hpp"
#include "template/request.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::tmpl {

using json = nlohmann::json;

namespace {

// Reply text is one line of printable ASCII.
std::string printable(std::string_view s, size_t max = 300) {
    std::string r;
    for (unsigned char c : s) {
        if (r.size() >= max) {
            r += "...";
            break;
        }
        r += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    }
    return r;
}

Error failure_error(const std::string& name, const std::string& reason) {
    std::string n = name.empty() ? std::string("(none)") : printable(name, 64);
    return mail::error_for(mail::ReplyReason::template_failed, n + ": " + printable(reason),
                           "template " + n + " not rendered: " + printable(reason, 1000));
}

void set_header(mail::Message& m, std::string_view name, const std::string& value) {
    int n = m.count(name);
    if (n == 0) {
        m.add_header(std::string(name), value);
        return;
    }
    for (int k = n; k >= 2; --k) m.delete_header(name, k);
    m.change_header(name, 1, value);
}

const char* const kStaleContentFields[] = {"Content-Disposition", "Content-Description", "Content-ID",
                                           "Content-Location",    "Content-MD5",         "Content-Base"};

void edit_headers(mail::Message& m, const std::string& subject, const NewBody& b) {
    m.delete_all(kTemplateHeader);
    m.delete_all(kDataHeader);
    set_header(m, "Subject", subject);
    auto mv = m.value("MIME-Version");
    if (!mv || m.count("MIME-Version") != 1 || *mv != "1.0") set_header(m, "MIME-Version", "1.0");
    if (b.whole) {
        set_header(m, "Content-Type", b.content_type);
        if (b.transfer_encoding.empty())
            m.delete_all("Content-Transfer-Encoding");
        else
            set_header(m, "Content-Transfer-Encoding", b.transfer_encoding);
        for (const char* f : kStaleContentFields) m.delete_all(f);
    }
}

}  // namespace

json to_json(const RenderingFailure& f) {
    return json{{"type", "RenderingFailure"},  {"time", clock::format_rfc3339(f.time)},
                {"template", f.template_name}, {"reason", f.reason},
                {"queue_id", f.queue_id},      {"message_id", f.message_id},
                {"mail_from", f.mail_from},    {"rcpts", f.rcpts}};
}

Result<Rendered> render_for_message(const Template& t, json data, const Settings& s) {
    auto merged = merge_data(t, std::move(data));
    if (!merged) return merged.error();
    for (const auto& [name, value] : s.reserved) (*merged)[name] = value;
    Limits limits = s.limits;  // rendering never needs more than the message may hold
    limits.max_output = std::min<uint64_t>(limits.max_output, s.max_message_size);
    return render(t, *merged, limits);
}

Status apply_template(mail::Message& m, const Template& t, json data, const Settings& s) {
    auto rendered = render_for_message(t, std::move(data), s);
    if (!rendered) return failure_error(t.name, rendered.error().what);
    auto body = rebuild(m.value("Content-Type").value_or(""), m.body(), *rendered);
    if (!body) return internal_error("template " + t.name + ": " + body.error().what);
    std::string subject = encode_subject(rendered->subject);

    // Size of the result, on a copy of the headers, before touching `m`.
    mail::Message probe;
    for (auto& h : m.headers()) probe.feed_header(h.name, h.value);
    edit_headers(probe, subject, *body);
    uint64_t size = probe.size() + body->body.size();
    if (size > s.max_message_size)
        return failure_error(t.name, "rendered message is " + std::to_string(size) + " bytes, over the limit of " +
                                         std::to_string(s.max_message_size));

    edit_headers(m, subject, *body);
    m.replace_body(std::move(body->body));
    return ok_status();
}

Status template_stage(mail::Message& m, const TemplateStore& store, const Settings& s, RenderingFailure* failure,
                      std::string* log) {
    if (!s.enabled) return ok_status();
    std::string name;
    auto fail = [&](const Error& e, const std::string& reason) -> Status {
        if (failure && !e.reply.empty()) {
            failure->time = clock::now();
            failure->template_name = name;
            failure->reason = reason;
            failure->queue_id = m.env.queue_id;
            failure->message_id = m.value("Message-ID").value_or("");
            failure->mail_from = m.env.mail_from;
            failure->rcpts = m.env.rcpts;
        }
        return e;
    };

    auto req = parse_request(m, &name, s.limits.max_data_depth);
    if (!req) return fail(failure_error(name, req.error().what), req.error().what);
    if (!*req) return ok_status();
    Request r = std::move(**req);

    auto t = store.get(r.name);
    if (!t) return internal_error("template " + r.name + ": store: " + t.error().what);
    if (!*t) return fail(failure_error(r.name, "no such template"), "no such template");

    auto st = apply_template(m, **t, std::move(r.data), s);
    if (!st) {
        // failure_error() put "Template NAME: reason" in the reply; keep the reason alone.
        const std::string& text = st.error().reply.text;
        size_t colon = text.find(": ");
        return fail(st.error(), colon == std::string::npos ? text : text.substr(colon + 2));
    }
    if (log) *log += " template=" + r.name;
    return ok_status();
}

std::string serialize(const mail::Message& m) {
    std::string out;
    for (auto& h : m.headers()) {
        out += h.name;
        out += ':';
        // Values keep their leading space; folds become CRLF.
        for (size_t i = 0; i < h.value.size(); ++i) {
            char c = h.value[i];
            if (c == '\n' && (i == 0 || h.value[i - 1] != '\r')) out += '\r';
            out += c;
        }
        out += "\r\n";
    }
    out += "\r\n";
    out += m.body();
    return out;
}

}  // namespace ses::tmpl
