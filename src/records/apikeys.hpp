// apikeys.hpp -- API keys of the HTTP endpoint's operator routes.
//
// `sesctl apikey create NAME` makes a random key, prints it once and stores
// only its SHA-256 under NAME (table api_keys); the HTTP server checks a
// presented `Authorization: Bearer KEY` against the stored hashes.  Revoking
// deletes the entry, so a revoked key fails at once, also in a running
// daemon (every check reads the table).
//
// A key may be restricted to sending identities (`create NAME --identity D`,
// repeatable): the sending API (services/send_api.hpp) then refuses other
// From: identities with 403.  Value layout: SHA-256 (32 bytes), created
// (u64 big-endian, order-preserving i64), then the identities joined by
// '\n' (absent: every identity).
//
// Errors: store failures come back as Error; a duplicate or unknown name is
// an Error with a message for the operator.  Thread-safe: no state besides
// the shared Env.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

struct ApiKeyInfo {
    std::string name;
    int64_t created = 0;
    std::vector<std::string> identities;  // empty: every configured identity
};

class ApiKeys {
public:
    explicit ApiKeys(std::shared_ptr<store::Env> env) : env_(std::move(env)) {}

    // The new key (shown once); fails when NAME exists or is not a plain name.
    Result<std::string> create(const std::string& name, int64_t now, const std::vector<std::string>& identities = {});
    Result<std::vector<ApiKeyInfo>> list() const;
    Status revoke(const std::string& name);  // an unknown name is an error
    // The name of the key KEY is, or an empty string when no stored key matches.
    Result<std::string> check(std::string_view key) const;
    // The key named NAME; std::nullopt when there is none.
    Result<std::optional<ApiKeyInfo>> info(std::string_view name) const;

private:
    std::shared_ptr<store::Env> env_;
};

// Names of letters, digits, '-', '_' and '.', 1..64 characters.
bool valid_api_key_name(std::string_view name);

}  // namespace ses::records
