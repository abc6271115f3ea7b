// identity_cmd.cpp -- sesctl identity verify / identity status.
//
//   sesctl identity verify DOMAIN [--dns HOST@PORT] [--timeout S] [--no-store]
//       Look the identity up in DNS (DKIM keys, SPF for outbound_ips,
//       DMARC), print each check as verified / pending / failed with the
//       record to publish, and store the result with its time (the daemon's
//       require_verified reads it).  Exit 0 verified, 1 pending or failed
//       (or the check could not run), 2 usage.
//   sesctl identity status [DOMAIN]
//       The stored results, without asking DNS.
#include "ctl/identity_cmd.hpp"
#include "ctl/open_store.hpp"
#include "store/settings.hpp"

#include <nlohmann/json.hpp>

#include "auth/dmarc.hpp"
#include "auth/from_config.hpp"
#include "auth/identity.hpp"
#include "auth/inbound.hpp"
#include "auth/spf.hpp"
#include "auth/verification.hpp"
#include "dns/resolver.hpp"
#include "store/env.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::ctl {

namespace {

using json = nlohmann::json;

// DNS data is not always UTF-8: never let it break the JSON output.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<std::shared_ptr<store::Env>> open_store(Context& c) {
    if (auto p = c.opt("store")) {
        auto o = store::options_from(c.cfg);
        o.path = *p;
        return store::Env::open(o);
    }
    return ctl::open_store(c.cfg);
}

void print_report(Context& c, const auth::IdentityReport& r) {
    c.out << r.domain << ": " << auth::verify_state_name(r.state);
    if (!r.reason.empty()) c.out << " (" << r.reason << ")";
    c.out << "\n  checked " << clock::format_rfc3339(r.checked_at);
    if (r.pending_since > 0 && r.state != auth::VerifyState::verified)
        c.out << ", not verified since " << clock::format_rfc3339(r.pending_since);
    c.out << "\n";
    for (auto& k : r.checks) {
        c.out << "  " << k.kind << "\t" << auth::verify_state_name(k.state) << "\t" << k.name << "\n"
              << "      " << k.detail << "\n";
        if (!k.found.empty() && k.state != auth::VerifyState::verified) c.out << "      found:   " << k.found << "\n";
        if (!k.publish.empty()) c.out << "      publish: " << k.publish << "\n";
    }
}

int cmd_verify(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl identity verify DOMAIN", 2);
    std::string domain = str::lower(c.args[0]);
    auto ids = auth::identities(c.cfg);
    const auth::IdentityConf* id = nullptr;
    for (auto& i : ids)
        if (i.domain == domain) id = &i;
    if (!id)
        return fail(c, domain + " is not a configured [[domain]] in " +
                           (c.cfg.path.empty() ? "the configuration" : c.cfg.path));

    dns::Settings ds = auth::dns_settings(c.cfg);
    if (auto d = c.opt("dns")) ds.forwarders = str::split(*d, ',');
    if (auto t = c.opt("timeout")) {
        auto v = str::parse_duration(*t);
        if (!v || *v <= 0) return fail(c, "--timeout: not a duration: " + *t, 2);
        ds.timeout = *v;
    }
    auto res = dns::Resolver::create(ds);
    if (!res) return fail(c, res.error().what);
    std::shared_ptr<const dns::Lookup> dns = *res;
    auth::VerifySettings vs = auth::verify_settings(c.cfg);
    auth::Spf spf(dns, vs.authserv_id.empty() ? auth::host_name() : vs.authserv_id);
    auth::Dmarc dmarc(dns, vs.public_suffix_list);

    auth::IdentityReport r = auth::verify_identity(*id, auth::expected_keys(*id), *dns, spf, dmarc, clock::now());

    std::string store_error;
    if (!c.flag("no-store")) {
        auto env = open_store(c);
        if (!env) {
            store_error = env.error().what;
        } else {
            auth::VerificationStore vstore(*env);
            if (auto st = vstore.save(r); !st) store_error = st.error().what;
        }
    }
    if (c.json) {
        json j = auth::to_json(r);
        j["stored"] = store_error.empty() && !c.flag("no-store");
        if (!store_error.empty()) j["store_error"] = store_error;
        c.out << dump(j) << "\n";
    } else {
        print_report(c, r);
        if (!store_error.empty()) c.err << "sesctl: result not stored: " << store_error << "\n";
    }
    return r.state == auth::VerifyState::verified ? 0 : 1;
}

int cmd_status(Context& c) {
    auto env = open_store(c);
    if (!env) return fail(c, env.error().what);
    auth::VerificationStore vstore(*env);
    std::vector<auth::IdentityReport> reports;
    if (c.args.empty()) {
        reports = vstore.all();
    } else {
        for (auto& d : c.args) {
            auto r = vstore.load(d);
            if (!r) return fail(c, str::lower(d) + ": never verified (sesctl identity verify " + str::lower(d) + ")");
            reports.push_back(*r);
        }
    }
    if (c.json) {
        json arr = json::array();
        for (auto& r : reports) arr.push_back(auth::to_json(r));
        c.out << dump(json{{"identities", arr}}) << "\n";
        return 0;
    }
    if (reports.empty()) c.out << "no identity has been verified yet\n";
    for (auto& r : reports) print_report(c, r);
    return 0;
}

}  // namespace

std::vector<Command> identity_commands() {
    return {
        {"identity verify",
         "DOMAIN [--dns HOST@PORT] [--timeout SECONDS] [--no-store] [--store DIR]",
         "check an identity's DKIM, SPF and DMARC records in DNS and store the result",
         cmd_verify,
         {"no-store"}},
        {"identity status", "[DOMAIN...]", "the stored verification results", cmd_status},
    };
}

}  // namespace ses::ctl
