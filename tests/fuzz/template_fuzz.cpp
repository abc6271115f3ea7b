// template_fuzz.cpp -- libFuzzer target: template data + message parsing.
//
// The input is split at NUL bytes into up to four fields:
//   1. the X-SES-Template-Data header value (JSON, base64:, RFC 2047)
//   2. the top-level Content-Type of the submitted message
//   3. the submitted body (multipart bodies with attachments are kept)
//   4. a template text (checked, then rendered as the HTML and text parts)
// Each input runs the whole end-of-message stage against fixed templates
// and the fuzzed one.  Crashes, leaks, sanitizer reports and a stage that
// succeeds while leaving an X-SES header or a bare LF are findings.
//
//   make fuzz && build/fuzz/template_fuzz -max_total_time=60 -max_len=65536
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mail/message.hpp"
#include "template/mime.hpp"
#include "template/render.hpp"
#include "template/request.hpp"
#include "template/stage.hpp"
#include "template/store.hpp"
#include "template/template.hpp"
#include "util/log.hpp"

using namespace ses;

namespace {

std::vector<std::string> fields(const uint8_t* data, size_t size) {
    std::vector<std::string> f(1);
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0 && f.size() < 4)
            f.emplace_back();
        else
            f.back() += static_cast<char>(data[i]);
    }
    f.resize(4);
    return f;
}

tmpl::MemoryTemplateStore& fixed_store() {
    static tmpl::MemoryTemplateStore* s = [] {
        auto* st = new tmpl::MemoryTemplateStore;
        tmpl::Template strict;
        strict.name = "strict";
        strict.subject = "Hi {{name}} {{{raw}}}";
        strict.html = "<p>{{name}}</p>{{#items}}<li>{{sku}} x {{qty}}</li>{{/items}}{{^items}}none{{/items}}{{{raw}}}";
        strict.text = "{{name}}\n{{#items}}- {{sku}}\n{{/items}}{{user.address.city}}";
        (void)st->put(strict);
        tmpl::Template lenient = strict;
        lenient.name = "lenient";
        lenient.strict = false;
        lenient.default_data = R"({"name": "friend", "items": [{"sku": "A", "qty": 1}]})";
        (void)st->put(lenient);
        return st;
    }();
    return *s;
}

bool bare_lf(const std::string& s) {
    for (size_t i = 0; i < s.size(); ++i)
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    return false;
}

void run_stage(const std::string& name, const std::string& data, const std::string& ctype, const std::string& body,
               const tmpl::TemplateStore& store) {
    mail::Message m;
    m.feed_header("From", " a@example.com");
    m.feed_header("Subject", " placeholder");
    m.feed_header("X-SES-Template", " " + name);
    m.feed_header("X-SES-Template-Data", " " + data);
    if (!ctype.empty()) m.feed_header("Content-Type", " " + ctype);
    m.feed_body(body);
    tmpl::Settings s;
    s.max_message_size = 1 << 20;
    s.limits.max_lookups = 20000;
    s.limits.max_output = 1 << 20;
    tmpl::RenderingFailure f;
    std::string log;
    auto st = tmpl::template_stage(m, store, s, &f, &log);
    if (st.ok()) {
        if (m.count("X-SES-Template") || m.count("X-SES-Template-Data")) abort();
        if (bare_lf(m.body())) abort();
        (void)tmpl::serialize(m);
    } else if (!st.error().reply.empty()) {
        for (unsigned char c : st.error().reply.text)
            if (c < 0x20 || c >= 0x7f) abort();  // replies are one printable line
        if (!m.edits().empty()) abort();         // nothing half-rendered
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::setup("template_fuzz", log::Target::stderr_, log::Level::error);
    tmpl::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto f = fields(data, size);
    const std::string& json_data = f[0];
    const std::string& ctype = f[1];
    const std::string& body = f[2];
    const std::string& text = f[3];

    (void)tmpl::parse_data(json_data);
    run_stage("strict", json_data, ctype, body, fixed_store());
    run_stage("lenient", json_data, ctype, body, fixed_store());

    // The fuzzed template text, as put would check it and the stage render it.
    tmpl::Template t;
    t.name = "fuzzed";
    t.subject = "S {{x}}";
    t.html = text;
    t.text = text;
    t.strict = size % 2 == 0;
    if (tmpl::check(t).ok()) {
        tmpl::MemoryTemplateStore store;
        (void)store.put(t);
        run_stage("fuzzed", json_data, ctype, body, store);
    }
    return 0;
}
