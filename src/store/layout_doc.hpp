// layout_doc.hpp -- docs/store-layout.md, generated from the table list.
//
// layout_markdown() renders the conventions and one row per table of
// schema.cpp; `make docs` writes it and `make docs-check` fails when the
// committed file differs, so the document cannot drift from the code.
// Pure; thread-safe.
#pragma once

#include <string>

namespace ses::store {

std::string layout_markdown();

}  // namespace ses::store
