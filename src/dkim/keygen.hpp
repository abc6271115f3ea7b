// keygen.hpp -- new DKIM key pairs and the DNS records that publish them.
#pragma once

#include <string>
#include <vector>

#include "dkim/key_store.hpp"
#include "util/result.hpp"

namespace ses::dkim {

struct NewKey {
    std::string pem;  // PKCS#8 private key
    std::string txt;  // "v=DKIM1; k=rsa; p=..."
};

// algorithm "rsa" (bits >= 1024) or "ed25519".
Result<NewKey> generate_key(const std::string& algorithm, int bits);

// TXT record text split into <= 255-byte character-strings, as a zone file
// wants them: "\"v=DKIM1; k=rsa; p=MIIB...\" \"...\"".
std::vector<std::string> txt_strings(const std::string& txt);

// The whole zone-file line: NAME IN TXT ( "..." "..." )
std::string zone_line(const std::string& selector, const std::string& domain, const std::string& txt);

}  // namespace ses::dkim
