// roff.cpp -- see roff.hpp.
#include "util/roff.hpp"

#include "util/version.hpp"

namespace ses::roff {

std::string text(std::string_view md) {
    std::string out;
    out.reserve(md.size() + 16);
    bool code = false, at_line_start = true;
    for (size_t i = 0; i < md.size(); ++i) {
        char c = md[i];
        if (c == '`') {
            out += code ? "\\fR" : "\\fB";
            code = !code;
            at_line_start = false;
            continue;
        }
        if (c == '*' && i + 1 < md.size() && md[i + 1] == '*') {
            ++i;  // **bold**: the emphasis is dropped, the words kept
            continue;
        }
        if (c == '\n') {
            out += '\n';
            at_line_start = true;
            continue;
        }
        if (at_line_start && (c == '.' || c == '\'')) out += "\\&";
        at_line_start = false;
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else if (c == '|')
            out += "|\\:";  // a break point: "a|b|c" lists are long words otherwise
        else
            out += c;
    }
    if (code) out += "\\fR";
    return out;
}

std::string header(std::string_view name, int section, std::string_view summary, std::string_view manual) {
    std::string upper;
    for (char c : name) upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    std::string out = ".\\\" Generated from sesmilter's tables; do not edit (run `make docs`).\n";
    out += ".TH " + text(upper) + " " + std::to_string(section) + " \"\" \"sesmilter " + std::string(kVersion) +
           "\" \"" + std::string(manual) + "\"\n";
    out += ".SH NAME\n" + text(name) + " \\- " + text(summary) + "\n";
    return out;
}

}  // namespace ses::roff
