// dkim_cmd.cpp -- `sesctl dkim keygen`.
#include "ctl/dkim_cmd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>

#include "config/syntax.hpp"
#include "dkim/keygen.hpp"
#include "util/result.hpp"
#include "util/strings.hpp"

namespace ses::ctl {
namespace {

// mkdir -p with mode 0700 for every directory it creates: keys are secrets,
// and a missing --out directory is the usual case on a fresh host.
Status make_dirs(const std::string& dir) {
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        std::string prefix = dir.substr(0, pos);
        if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
            return internal_error(prefix + ": cannot create directory: " + std::strerror(errno));
    }
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return internal_error(dir + ": not a directory");
    return ok_status();
}

int keygen(Context& c) {
    auto domain = c.opt("domain"), selector = c.opt("selector");
    if (!domain || !selector) return fail(c, "dkim keygen needs --domain and --selector", 2);
    // Both end up in a file name and a DNS name: "../x" or "s1; x=y" must not.
    if (auto why = config::dns_name_problem(*domain); !why.empty())
        return fail(c, "--domain: not a domain name: " + config::quoted(*domain) + ": " + why, 2);
    if (auto why = config::dns_name_problem(*selector); !why.empty())
        return fail(c, "--selector: not a selector (DNS labels): " + config::quoted(*selector) + ": " + why, 2);
    std::string alg = c.opt("algorithm").value_or("rsa");
    int bits = 2048;
    if (auto b = c.opt("bits")) bits = std::atoi(b->c_str());
    std::string dir = c.opt("out").value_or(".");
    if (auto made = make_dirs(dir); !made) return fail(c, made.error().what);
    if (char* real = realpath(dir.c_str(), nullptr)) {
        dir = real;  // the config snippet printed below must work from anywhere
        free(real);
    }
    std::string dom = str::lower(*domain);

    auto key = dkim::generate_key(alg, bits);
    if (!key) return fail(c, key.error().what);
    std::string path = dir + "/" + dom + "." + *selector + ".pem";
    // O_EXCL: never overwrite a key that may already be published.
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return fail(c, path + ": " + std::strerror(errno));
    fchmod(fd, 0600);
    ssize_t w = write(fd, key->pem.data(), key->pem.size());
    if (close(fd) != 0 || w != static_cast<ssize_t>(key->pem.size())) return fail(c, path + ": write failed");

    std::string name = *selector + "._domainkey." + dom;
    if (c.json) {
        c.out << nlohmann::json{{"domain", dom},    {"selector", *selector},
                                {"algorithm", alg}, {"bits", alg == "rsa" ? bits : 256},
                                {"key_file", path}, {"dns_name", name},
                                {"txt", key->txt},  {"zone_line", dkim::zone_line(*selector, dom, key->txt)}}
                     .dump(2)
              << "\n";
        return 0;
    }
    c.out << "Wrote " << path << " (" << (alg == "rsa" ? "rsa-" + std::to_string(bits) : alg) << ", mode 0600).\n"
          << "Publish this TXT record (zone-file syntax; the strings join into one value):\n\n"
          << dkim::zone_line(*selector, dom, key->txt) << "\n\n"
          << "Value, for DNS panels that take one string:\n"
          << key->txt << "\n"
          << "Then add to sesmilter.toml under [[domain]] name = \"" << dom << "\":\n"
          << "  dkim = [ { selector = \"" << *selector << "\", key = \"" << path << "\" } ]\n";
    return 0;
}

}  // namespace

std::vector<Command> dkim_commands() {
    return {
        {"dkim keygen", "--domain D --selector S [--algorithm rsa|ed25519] [--bits N] [--out DIR]",
         "write a new DKIM private key (0600) and print the DNS TXT record to publish", keygen},
    };
}

}  // namespace ses::ctl
