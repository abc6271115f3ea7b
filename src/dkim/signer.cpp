// signer.cpp -- see signer.hpp.
#include "dkim/signer.hpp"

#include <strings.h>

#include "dkim/native_signer.hpp"
#include "dkim/opendkim_signer.hpp"

namespace ses::dkim {

Result<std::unique_ptr<Signer>> Signer::create(const config::Config& cfg) {
    if (cfg.dkim.signer == "opendkim") return OpendkimSigner::create(cfg);
    return NativeSigner::create(cfg);
}

HeaderLists header_lists(const config::Config& cfg) {
    HeaderLists l{cfg.dkim.sign_headers, cfg.dkim.oversign_headers};
    auto has = [](const std::vector<std::string>& v, const char* name) {
        for (auto& n : v)
            if (strcasecmp(n.c_str(), name) == 0) return true;
        return false;
    };
    for (const char* must : {"List-Unsubscribe", "List-Unsubscribe-Post"}) {
        if (!has(l.sign, must)) l.sign.emplace_back(must);
        if (!has(l.oversign, must)) l.oversign.emplace_back(must);
    }
    return l;
}

}  // namespace ses::dkim
