// keys.cpp -- the list of key constants (see keys.hpp).
#include "config/keys.hpp"

namespace ses::config {
namespace {

#define SES_CONFIG_KEY_REF(section, name, type) {key::section::name.path, Type::type},
const KeyRef kConstants[] = {SES_CONFIG_KEYS(SES_CONFIG_KEY_REF)};
#undef SES_CONFIG_KEY_REF

}  // namespace

std::span<const KeyRef> key_constants() { return kConstants; }

}  // namespace ses::config
