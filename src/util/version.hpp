// version.hpp -- the release version both programs print with --version.
//
// Kept equal to AC_INIT in configure.ac (tests/e2e/test_sesctl.py compares
// them).  No errors, no state: safe from any thread.
#pragma once

#include <string_view>

namespace ses {

inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace ses
