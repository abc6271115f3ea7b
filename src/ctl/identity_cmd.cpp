// identity_cmd.cpp -- sesctl identity verify / identity status.
//
//   sesctl identity verify DOMAIN [--dns HOST@PORT] [--timeout S] [--no-store]
//       Look the identity up in DNS (DKIM keys, SPF for outbound_ips,
//       DMARC), print each check as verified / pending / failed with the
//       record to publish, and store the result with its time (the daemon's
//       require_verified reads it).  Exit 0 verified, 1 pending or failed
//       (or the check could not run), 2 usage.
//       An identity with a return_path_domain also gets that domain
//       checked: an MX whose hosts resolve (bounces come back) and an SPF
//       record authorizing the sending addresses (the domain's
//       outbound_ips, else [warmup] outbound_ips; with none, only that an
//       SPF record exists).  These count in the output and the exit code,
//       not in the stored state: require_verified is about signing, and
//       bounces coming back is no condition for sending.
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
#include "config/keys.hpp"
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

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? std::string(sep) : "") + v[i];
    return out;
}

bool is_spf(std::string_view txt) {
    std::string l = str::lower(txt.substr(0, 7));
    return l == "v=spf1 " || str::lower(txt) == "v=spf1";
}

// The return-path domain's MX: present, not null (RFC 7505), and every
// host resolving to an address.  The detail names the hosts.
auth::CheckResult check_return_path_mx(const std::string& rpd, const dns::Lookup& dns) {
    auth::CheckResult c;
    c.kind = "return_path_mx";
    c.name = rpd;
    c.publish = rpd + ". IN MX 10 " + auth::host_name() + ".";
    dns::Answer a = dns.mx(rpd);
    if (a.rcode == dns::Rcode::temperror) {
        c.state = auth::VerifyState::pending;
        c.detail = "MX of " + rpd + ": DNS error (" + a.why + ")";
        return c;
    }
    if (a.values.empty()) {
        c.state = auth::VerifyState::failed;
        c.detail = "no MX record for " + rpd + ": bounces cannot come back";
        return c;
    }
    std::vector<std::string> found, problems;
    bool pending = false;
    for (auto& host : a.values) {
        if (host.empty() || host == ".") {
            found.push_back(". (null MX)");
            problems.push_back("null MX for " + rpd + " (RFC 7505): it accepts no mail");
            continue;
        }
        std::vector<std::string> addrs;
        bool temp = false;
        for (uint16_t t : {dns::rr::A, dns::rr::AAAA}) {
            dns::Answer aa = dns.query(host, t);
            if (aa.rcode == dns::Rcode::temperror) temp = true;
            for (auto& v : aa.values) addrs.push_back(v);
        }
        found.push_back(host + (addrs.empty() ? std::string(" (no address)") : " (" + joined(addrs, ", ") + ")"));
        if (addrs.empty()) {
            if (temp) {
                pending = true;
                problems.push_back("MX host " + host + " of " + rpd + ": DNS error");
            } else {
                problems.push_back("MX host " + host + " of " + rpd + " does not resolve");
            }
        }
    }
    c.found = joined(found, "; ");
    if (problems.empty()) {
        c.state = auth::VerifyState::verified;
        c.detail = "MX of " + rpd + ": " + c.found;
        c.publish.clear();
        return c;
    }
    c.state = pending && problems.size() == 1 ? auth::VerifyState::pending : auth::VerifyState::failed;
    c.detail = problems.front();
    return c;
}

// The return-path domain's SPF: receivers check it against the envelope
// sender, which is now TAG@rpd.
auth::CheckResult check_return_path_spf(const std::string& rpd, const std::vector<std::string>& ips,
                                        const dns::Lookup& dns, const auth::Spf& spf) {
    auth::CheckResult c;
    if (!ips.empty()) {
        auth::IdentityConf as;
        as.domain = rpd;
        as.outbound_ips = ips;
        c = auth::check_spf(as, dns, spf);
        c.kind = "return_path_spf";
        return c;
    }
    c.kind = "return_path_spf";
    c.name = rpd;
    dns::Answer a = dns.txt(rpd);
    for (auto& v : a.values)
        if (is_spf(v)) c.found = v;
    if (!c.found.empty()) {
        c.state = auth::VerifyState::verified;
        c.detail = "SPF record of " + rpd + " exists (no outbound_ips configured to evaluate it with)";
    } else if (a.rcode == dns::Rcode::temperror) {
        c.state = auth::VerifyState::pending;
        c.detail = "SPF check of " + rpd + ": DNS error (" + a.why + ")";
    } else {
        c.state = auth::VerifyState::failed;
        c.detail = "SPF record of " + rpd + " missing";
        c.publish = rpd + ". IN TXT \"v=spf1 a mx ~all\"";
    }
    return c;
}

// Adds `extra` checks to a report and derives its state and reason again
// (failed over pending over verified, the first problem as the reason).
void add_checks(auth::IdentityReport& r, std::vector<auth::CheckResult> extra) {
    for (auto& c : extra) r.checks.push_back(std::move(c));
    r.state = auth::VerifyState::verified;
    r.reason.clear();
    for (auto want : {auth::VerifyState::failed, auth::VerifyState::pending}) {
        for (auto& c : r.checks)
            if (c.state == want && r.reason.empty()) {
                r.state = want;
                r.reason = c.detail;
            }
        if (!r.reason.empty()) break;
    }
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

    std::string rpd;
    std::vector<std::string> ips = id->outbound_ips;
    for (auto& d : c.cfg.domains)
        if (str::lower(d.name) == domain) rpd = d.return_path_domain;
    if (ips.empty()) ips = c.cfg.get(config::key::warmup::outbound_ips);

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
    // Stored above without them: see the header comment.
    if (!rpd.empty()) add_checks(r, {check_return_path_mx(rpd, *dns), check_return_path_spf(rpd, ips, *dns, spf)});
    if (c.json) {
        json j = auth::to_json(r);
        if (!rpd.empty()) j["return_path_domain"] = rpd;
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
         "check an identity's DKIM, SPF and DMARC records (and its return-path domain's MX and SPF) in DNS and store "
         "the result",
         cmd_verify,
         {"no-store"}},
        {"identity status", "[DOMAIN...]", "the stored verification results", cmd_status},
    };
}

}  // namespace ses::ctl
