// encoding.hpp -- base64, base64url, base32 and hex (RFC 4648).
//
// Encoders pad as RFC 4648 says (base64 input must come in whole padded
// groups) (base64url and base32 can omit the padding,
// for tokens in URLs and local parts).  Decoders are strict: they accept the
// alphabet, the padding where it belongs (or none, for unpadded input) and,
// for base64 only, whitespace (folded MIME/PEM text); anything else gives
// nullopt, never a partial result.  Base32 and hex decode either case;
// base32 rejects non-zero trailing bits, base64 tolerates them as MIME does.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ses::crypto {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

std::string base64url_encode(std::string_view in, bool pad = false);
std::optional<std::string> base64url_decode(std::string_view in);

std::string base32_encode(std::string_view in, bool pad = true);
std::optional<std::string> base32_decode(std::string_view in);

std::string hex_encode(std::string_view in);  // lower case
std::optional<std::string> hex_decode(std::string_view in);

}  // namespace ses::crypto
