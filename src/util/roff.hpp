// roff.hpp -- writing man pages (man(7) macros) from the tables that also
// print the Markdown references and the --help texts, so that a page is
// never written by hand beside its table.
//
// text() escapes a sentence for roff and turns the Markdown the tables use
// (`code`, **bold**) into fonts; header() opens a page.  The output is
// deterministic (no date) so that `make docs-check` can diff it.
//
// Pure; no errors; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ses::roff {

// One paragraph of running text: backslashes and dashes escaped, a leading
// '.' or '\'' neutralised, `code` in bold, line breaks kept as spaces.
std::string text(std::string_view markdown);

// .TH line and the NAME section.
std::string header(std::string_view name, int section, std::string_view summary, std::string_view manual);

}  // namespace ses::roff
