// resolver.hpp -- the one DNS resolver (libunbound, with its cache).
//
// SPF, DKIM verification, DMARC and the identity checks all ask this
// resolver, so one process keeps one cache that honours TTLs.  Questions go
// to the configured forwarders ("127.0.0.1@5353") or, with none, to the
// nameservers of /etc/resolv.conf.  DNSSEC validation is optional (the root
// trust anchor from dns-root-data).
//
// Each question has a deadline (Settings::timeout); when it passes the
// question is cancelled and the Answer is a temperror ("timed out"), which
// callers turn into `451 4.4.3`.  Never a pass, never a permanent failure.
//
// Errors: create() fails (Error, no reply) on a bad forwarder address or a
// missing trust anchor.  Thread safety: query() may be called from any number
// of threads; one background thread delivers libunbound's results.  The
// threads start with the first question: a resolver may be created before
// fork() (to check the configuration) but must be asked only in the process
// that will use it; one dropped in a fork()ed child is left alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dns/answer.hpp"
#include "util/result.hpp"

namespace ses::dns {

// [dns] in the configuration.
struct Settings {
    std::vector<std::string> forwarders;  // "127.0.0.1@5353", "192.0.2.53"; empty: /etc/resolv.conf
    int64_t timeout = 5;                  // seconds per question
    bool dnssec = false;                  // validate with the root trust anchor
    std::string trust_anchor = "/usr/share/dns/root.key";
};

class Resolver final : public Lookup {
public:
    static Result<std::shared_ptr<Resolver>> create(const Settings& s);
    ~Resolver() override;
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    Answer query(std::string_view name, uint16_t type) const override;

    struct Impl;

private:
    explicit Resolver(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ses::dns
