// hooks.cpp -- see hooks.hpp.
#include "policy/hooks.hpp"

namespace ses::policy {

namespace {
constexpr ApiDef kSesApi[] = {
    {"ses.on(name, fn)",
     "registers `fn` as the hook `name` while the script loads; an unknown name or a second registration of "
     "one hook refuses the script."},
    {"ses.log(...)", "writes one log line (arguments joined by spaces); `print` does the same."},
    {"ses.now()", "the clock in seconds since the epoch (honours `SESMILTER_NOW`)."},
};
}  // namespace

std::span<const ApiDef> ses_api() { return kSesApi; }

const HookDef* find_hook(std::span<const HookDef> hooks, std::string_view name) {
    for (const HookDef& h : hooks)
        if (h.name == name) return &h;
    return nullptr;
}

}  // namespace ses::policy
