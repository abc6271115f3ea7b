// config_fuzz.cpp -- libFuzzer target: the configuration loader.
//
// The input is a configuration file.  Each run loads it; a file that loads
// must read back every key constant (config/keys.hpp) and its effective
// dump must load again to the same dump.  A file that does not load must
// give an error whose lines stay short (values are echoed cut to 80 bytes).
// Crashes, sanitizer reports and a broken invariant (abort) are findings.
//
//   make fuzz && build/fuzz/config_fuzz -max_total_time=60 -max_len=65536 CORPUS examples/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/keys.hpp"

using namespace ses;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void read_every_key(const config::Config& c) {
#define SES_FUZZ_READ(section, name, type) (void)c.get(config::key::section::name);
    SES_CONFIG_KEYS(SES_FUZZ_READ)
#undef SES_FUZZ_READ
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto c = config::load_string(text, "fuzz.toml");
    if (!c) {
        // FILE:LINE:COL: KEY(<=80 + "..."): MESSAGE with values <= 80 bytes.
        size_t start = 0;
        const std::string& e = c.error().what;
        while (start <= e.size()) {
            size_t nl = e.find('\n', start);
            size_t len = (nl == std::string::npos ? e.size() : nl) - start;
            check(len < 2048);
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        return 0;
    }
    read_every_key(*c);
    for (auto& d : c->domains) check(!d.name.empty());
    std::string dump = c->dump();
    auto again = config::load_string(dump, "dump.toml");
    check(again.ok());
    check(again->dump() == dump);
    check(again->domains.size() == c->domains.size());
    return 0;
}
