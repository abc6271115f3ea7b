// compose.cpp -- see compose.hpp.
#include "mail/compose.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "mail/address.hpp"
#include "mail/gmime_util.hpp"
#include "mail/mime.hpp"

namespace ses::mail {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// A leaf part with `bytes` as its decoded content, written with `enc`.
gm::Ref<GMimePart> leaf(const char* type, const char* subtype, std::string_view bytes, GMimeContentEncoding enc) {
    gm::Ref<GMimePart> part(g_mime_part_new_with_type(type, subtype));
    gm::Ref<GMimeStream> mem(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
    gm::Ref<GMimeDataWrapper> content(g_mime_data_wrapper_new_with_stream(mem.get(), GMIME_CONTENT_ENCODING_DEFAULT));
    g_mime_part_set_content(part.get(), content.get());
    g_mime_part_set_content_encoding(part.get(), enc);
    return part;
}

gm::Ref<GMimePart> text_part(const char* subtype, std::string_view text) {
    auto p = leaf("text", subtype, text, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(p.get()), "charset", "utf-8");
    return p;
}

void add_addresses(GMimeMessage* msg, GMimeAddressType type, const std::vector<std::string>& addrs) {
    InternetAddressList* list = g_mime_message_get_addresses(msg, type);
    for (const auto& a : addrs) {
        gm::Ref<InternetAddress> ia(internet_address_mailbox_new(nullptr, a.c_str()));
        internet_address_list_add(list, ia.get());
    }
}

constexpr std::array<std::string_view, 17> kOwnHeaders = {"from",
                                                          "to",
                                                          "cc",
                                                          "bcc",
                                                          "reply-to",
                                                          "subject",
                                                          "date",
                                                          "message-id",
                                                          "mime-version",
                                                          "sender",
                                                          "received",
                                                          "return-path",
                                                          "dkim-signature",
                                                          "authentication-results",
                                                          "list-unsubscribe",
                                                          "list-unsubscribe-post",
                                                          "content-transfer-encoding"};

std::string base64_encode(std::string_view in) {
    gm::GString_ out(g_base64_encode(reinterpret_cast<const guchar*>(in.data()), in.size()));
    return std::string(out.get());
}

}  // namespace

bool valid_addr_spec(std::string_view a) {
    if (a.size() > 254) return false;
    size_t at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at > 64 || at + 1 >= a.size()) return false;
    std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
    // dot-atom (RFC 5322 atext): quoted local parts are not accepted.
    static constexpr std::string_view kAtext = "!#$%&'*+-/=?^_`{|}~";
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    for (char ch : local)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || kAtext.find(ch) != std::string_view::npos))
            return false;
    if (domain.find('.') == std::string_view::npos || domain.size() > 253) return false;
    size_t start = 0;
    while (start <= domain.size()) {
        size_t dot = domain.find('.', start);
        std::string_view label = domain.substr(start, dot == std::string_view::npos ? domain.npos : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char ch : label)
            if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-')) return false;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return true;
}

std::string refused_header(std::string_view name, std::string_view value) {
    if (name.empty() || name.size() > 76) return "header name must be 1 to 76 characters";
    for (char ch : name)
        if (ch <= 32 || ch >= 127 || ch == ':') return "header name " + std::string(name) + " is not RFC 5322 ftext";
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return "header " + std::string(name) + ": the value contains CR, LF or NUL";
    if (name.size() + 2 + value.size() > 998) return "header " + std::string(name) + ": longer than 998 bytes";
    std::string l = lower(name);
    if (std::find(kOwnHeaders.begin(), kOwnHeaders.end(), l) != kOwnHeaders.end())
        return "header " + std::string(name) + " is set by the API or the milter, not by SmtpHeaders";
    if (l.starts_with("x-ses-")) return "header " + std::string(name) + " is reserved for sesmilter";
    if (l.starts_with("arc-")) return "header " + std::string(name) + " would break the ARC chain";
    if (l.starts_with("content-")) return "header " + std::string(name) + " would break the MIME structure";
    return "";
}

std::string content_type_for(std::string_view file_name) {
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
        {"pdf", "application/pdf"},
        {"txt", "text/plain"},
        {"csv", "text/csv"},
        {"htm", "text/html"},
        {"html", "text/html"},
        {"ics", "text/calendar"},
        {"xml", "application/xml"},
        {"json", "application/json"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"svg", "image/svg+xml"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"doc", "application/msword"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xls", "application/vnd.ms-excel"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"ppt", "application/vnd.ms-powerpoint"},
        {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
        {"odt", "application/vnd.oasis.opendocument.text"},
        {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
        {"mp3", "audio/mpeg"},
        {"mp4", "video/mp4"},
    };
    size_t dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string ext = lower(file_name.substr(dot + 1));
    for (auto [e, t] : kTypes)
        if (e == ext) return std::string(t);
    return "application/octet-stream";
}

Result<std::string> compose(const Composition& c) {
    init();
    for (auto [field, part] :
         {std::pair<const char*, const std::optional<std::string>*>{"Html", &c.html}, {"Text", &c.text}})
        if (*part && !valid_utf8(**part)) return Error{std::string(field) + ": not valid UTF-8", {}};
    if (!valid_utf8(c.subject)) return Error{"Subject: not valid UTF-8", {}};
    if (c.subject.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        return Error{"Subject: contains CR, LF or NUL", {}};

    gm::Ref<GMimeMessage> msg(g_mime_message_new(TRUE));
    InternetAddressList* from = g_mime_message_get_from(msg.get());
    gm::Ref<InternetAddressList> parsed(internet_address_list_parse(nullptr, c.from.c_str()));
    if (!parsed || internet_address_list_length(parsed.get()) != 1) return Error{"From: not one address", {}};
    internet_address_list_append(from, parsed.get());
    add_addresses(msg.get(), GMIME_ADDRESS_TYPE_TO, c.to);
    add_addresses(msg.get(), GMIME_ADDRESS_TYPE_CC, c.cc);
    add_addresses(msg.get(), GMIME_ADDRESS_TYPE_REPLY_TO, c.reply_to);
    g_mime_message_set_subject(msg.get(), c.subject.c_str(), "utf-8");
    GDateTime* date = g_date_time_new_from_unix_utc(c.date);
    g_mime_message_set_date(msg.get(), date);
    g_date_time_unref(date);
    g_mime_message_set_message_id(msg.get(), c.message_id.c_str());
    GMimeObject* top = GMIME_OBJECT(msg.get());
    if (!c.template_name.empty()) {
        g_mime_object_set_header(top, "X-SES-Template", c.template_name.c_str(), nullptr);
        // base64: the template stage's form for data that may hold 8-bit
        // text (template/request.hpp), and a value GMime never folds badly.
        if (!c.template_data.empty())
            g_mime_object_set_header(top, "X-SES-Template-Data", ("base64:" + base64_encode(c.template_data)).c_str(),
                                     nullptr);
    }
    for (const auto& [name, value] : c.headers) {
        if (auto why = refused_header(name, value); !why.empty()) return Error{why, {}};
        g_mime_object_append_header(top, name.c_str(), value.c_str(), "utf-8");
    }

    // The textual body: what the template stage replaces when there is one.
    gm::Ref<GMimeObject> body;
    if (!c.template_name.empty() || (!c.html && !c.text)) {
        body.reset(GMIME_OBJECT(text_part("plain", c.text.value_or("")).release()));
    } else if (c.html && c.text) {
        gm::Ref<GMimeMultipart> alt(g_mime_multipart_new_with_subtype("alternative"));
        auto t = text_part("plain", *c.text);
        auto h = text_part("html", *c.html);
        g_mime_multipart_add(alt.get(), GMIME_OBJECT(t.get()));
        g_mime_multipart_add(alt.get(), GMIME_OBJECT(h.get()));
        body.reset(GMIME_OBJECT(alt.release()));
    } else {
        body.reset(GMIME_OBJECT((c.html ? text_part("html", *c.html) : text_part("plain", *c.text)).release()));
    }
    if (!c.attachments.empty()) {
        gm::Ref<GMimeMultipart> mixed(g_mime_multipart_new_with_subtype("mixed"));
        g_mime_multipart_add(mixed.get(), body.get());
        for (const auto& a : c.attachments) {
            std::string type = content_type_for(a.file_name);
            size_t slash = type.find('/');
            auto p = leaf(type.substr(0, slash).c_str(), type.substr(slash + 1).c_str(), a.content,
                          GMIME_CONTENT_ENCODING_BASE64);
            g_mime_part_set_filename(p.get(), a.file_name.c_str());
            g_mime_multipart_add(mixed.get(), GMIME_OBJECT(p.get()));
        }
        body.reset(GMIME_OBJECT(mixed.release()));
    }
    g_mime_message_set_mime_part(msg.get(), body.get());

    gm::FormatOptions fo;
    gm::GString_ text(g_mime_object_to_string(top, fo.fo));
    if (!text) return Error{"the message could not be written", {}};
    return std::string(text.get());
}

}  // namespace ses::mail
