// request.cpp -- see request.hpp.
#include "template/request.hpp"

#include "template/mime.hpp"
#include "template/template.hpp"
#include "util/strings.hpp"

namespace ses::tmpl {

using json = nlohmann::json;

namespace {

// nlohmann's parser and destructor are iterative; only code that walks the
// data recursively (rendering) needs the bound.  Recursion here stops at
// max_depth.
bool too_deep(const json& j, int depth, int max_depth) {
    if (!j.is_structured()) return false;
    if (depth >= max_depth) return true;
    for (auto& v : j)
        if (too_deep(v, depth + 1, max_depth)) return true;
    return false;
}

}  // namespace

Result<json> parse_data(std::string_view value, int max_depth) {
    std::string text = decode_header(std::string(str::trim(value)));
    std::string_view v = str::trim(text);
    std::string decoded;
    if (v.size() >= 7 && str::iequals(v.substr(0, 7), "base64:")) {
        auto d = base64_decode(v.substr(7));
        if (!d) return internal_error("X-SES-Template-Data: invalid base64");
        decoded = std::move(*d);
        v = decoded;
    }
    if (str::trim(v).empty()) return internal_error("X-SES-Template-Data is empty");
    json j;
    try {
        j = json::parse(v.begin(), v.end());
    } catch (const json::exception& e) {
        return internal_error(std::string("X-SES-Template-Data is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) return internal_error("X-SES-Template-Data is not a JSON object");
    if (too_deep(j, 0, max_depth))
        return internal_error("X-SES-Template-Data nests deeper than " + std::to_string(max_depth) + " levels");
    return j;
}

Result<std::optional<Request>> parse_request(const mail::Message& m, std::string* name_out, int max_depth) {
    int ntmpl = m.count(kTemplateHeader);
    int ndata = m.count(kDataHeader);
    if (ntmpl == 0 && ndata == 0) return std::optional<Request>();
    if (ntmpl == 0) return internal_error("X-SES-Template-Data without X-SES-Template");
    if (ntmpl > 1) return internal_error("more than one X-SES-Template header");
    if (ndata > 1) return internal_error("more than one X-SES-Template-Data header");
    Request r;
    r.name = decode_header(m.value(kTemplateHeader).value_or(""));
    r.name = std::string(str::trim(r.name));
    if (name_out) *name_out = r.name;
    if (!valid_name(r.name)) return internal_error("invalid template name");
    if (ndata == 1) {
        auto d = parse_data(m.value(kDataHeader).value_or(""), max_depth);
        if (!d) return d.error();
        r.data = std::move(*d);
    }
    return std::optional<Request>(std::move(r));
}

}  // namespace ses::tmpl
