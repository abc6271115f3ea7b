// verification.cpp -- see verification.hpp.
#include "auth/verification.hpp"

#include <fstream>
#include <sstream>

#include "dkim/key_store.hpp"
#include "dkim/keygen.hpp"
#include "store/env.hpp"
#include "store/schema.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::auth {

namespace {

std::string txt_line(const std::string& name, const std::string& txt) {
    std::string line = name + ". IN TXT (";
    for (auto& s : dkim::txt_strings(txt)) line += " \"" + s + "\"";
    return line + " )";
}

// tag=value; list (RFC 6376 3.2), values with folding whitespace removed.
std::string tag(std::string_view rec, std::string_view name) {
    for (auto& part : str::split(rec, ';')) {
        auto eq = part.find('=');
        if (eq == std::string::npos) continue;
        if (str::trim(std::string_view(part).substr(0, eq)) != name) continue;
        std::string v;
        for (char c : std::string_view(part).substr(eq + 1))
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') v += c;
        return v;
    }
    return {};
}

bool has_tag(std::string_view rec, std::string_view name) {
    for (auto& part : str::split(rec, ';')) {
        auto eq = part.find('=');
        if (eq != std::string::npos && str::trim(std::string_view(part).substr(0, eq)) == name) return true;
    }
    return false;
}

std::string short_name(const std::string& selector) { return selector + "._domainkey"; }

CheckResult check_dkim(const IdentityConf& id, const ExpectedKey& k, const dns::Lookup& dns) {
    CheckResult c;
    c.kind = "dkim";
    c.name = k.selector + "._domainkey." + id.domain;
    std::string label = "DKIM record " + short_name(k.selector);
    if (!k.error.empty()) {
        c.state = VerifyState::failed;
        c.detail = "the key for selector " + k.selector + " cannot be read: " + k.error;
        return c;
    }
    c.publish = dkim::zone_line(k.selector, id.domain, k.txt);
    dns::Answer a = dns.txt(c.name);
    if (a.rcode == dns::Rcode::temperror) {
        c.state = VerifyState::pending;
        c.detail = label + ": DNS error (" + a.why + ")";
        return c;
    }
    std::vector<std::string> keys;
    for (auto& v : a.values)
        if (has_tag(v, "p")) keys.push_back(v);
    if (keys.empty()) {
        c.state = VerifyState::pending;
        c.detail = label + " missing";
        return c;
    }
    c.found = keys[0];
    for (auto& v : keys)
        if (dkim_record_matches(v, k.txt)) {
            c.found = v;
            c.state = VerifyState::verified;
            c.detail = label + " matches the key";
            c.publish.clear();
            return c;
        }
    c.state = VerifyState::failed;
    c.detail = tag(keys[0], "p").empty() ? label + " revokes the key (empty p=)" : label + " does not match the key";
    return c;
}

CheckResult check_dmarc(const IdentityConf& id, const Dmarc& dmarc) {
    CheckResult c;
    c.kind = "dmarc";
    c.name = "_dmarc." + id.domain;
    DmarcLookup l = dmarc.fetch(id.domain);
    std::string suggest = txt_line(c.name, "v=DMARC1; p=none; rua=mailto:postmaster@" + id.domain);
    switch (l.status) {
        case DmarcResult::pass: {
            const DmarcRecord& r = *l.record;
            c.state = VerifyState::verified;
            c.found = r.text;
            c.detail = "DMARC record _dmarc." + r.domain + ": p=" + std::string(policy_name(r.p));
            if (r.sp) c.detail += " sp=" + std::string(policy_name(*r.sp));
            if (r.pct != 100) c.detail += " pct=" + std::to_string(r.pct);
            if (r.from_org) c.detail += " (organizational domain)";
            return c;
        }
        case DmarcResult::temperror:
            c.state = VerifyState::pending;
            c.detail = "DMARC record " + c.name + ": DNS error (" + l.detail + ")";
            c.publish = suggest;
            return c;
        case DmarcResult::permerror:
            c.state = VerifyState::failed;
            c.detail = "DMARC record does not parse: " + l.detail;
            c.publish = suggest;
            return c;
        default:
            c.state = VerifyState::pending;
            c.detail = l.detail.find("several") != std::string::npos ? "DMARC: " + l.detail
                                                                     : "DMARC record " + c.name + " missing";
            c.publish = suggest;
            return c;
    }
}

}  // namespace

CheckResult check_spf(const IdentityConf& id, const dns::Lookup& dns, const Spf& spf) {
    CheckResult c;
    c.kind = "spf";
    c.name = id.domain;
    std::string existing;
    dns::Answer a = dns.txt(id.domain);
    for (auto& v : a.values)
        if (str::lower(v.substr(0, 7)) == "v=spf1 " || str::lower(v) == "v=spf1") existing = v;
    c.found = existing;

    std::vector<std::string> missing, details;
    bool failed = false, pending = false;
    for (auto& ip : id.outbound_ips) {
        SpfOutcome o = spf.check_mailfrom({ip, "", "postmaster@" + id.domain});
        switch (o.result) {
            case SpfResult::pass:
                continue;
            case SpfResult::none:
                pending = true;
                details.push_back("SPF record of " + id.domain + " missing");
                break;
            case SpfResult::temperror:
                pending = true;
                details.push_back("SPF check of " + id.domain + ": DNS error (" + o.comment + ")");
                break;
            case SpfResult::permerror:
                failed = true;
                details.push_back("SPF record of " + id.domain + " is broken (" + o.comment + ")");
                break;
            default:
                failed = true;
                details.push_back("SPF record of " + id.domain + " does not authorize " + ip + " (" +
                                  std::string(spf_result_name(o.result)) + ")");
                break;
        }
        missing.push_back((ip.find(':') != std::string::npos ? "ip6:" : "ip4:") + ip);
    }
    if (missing.empty()) {
        c.state = VerifyState::verified;
        c.detail = "SPF authorizes " + std::to_string(id.outbound_ips.size()) + " outbound address" +
                   (id.outbound_ips.size() == 1 ? "" : "es");
        return c;
    }
    c.state = failed ? VerifyState::failed : VerifyState::pending;
    (void)pending;
    c.detail = details.front();
    std::string rec = "v=spf1";
    for (auto& m : missing) rec += " " + m;
    if (existing.empty()) {
        rec += " ~all";
    } else {
        std::string rest = existing.size() > 6 ? existing.substr(6) : "";
        if (std::string(str::trim(rest)).empty()) rest = " ~all";
        rec += rest;
    }
    c.publish = txt_line(id.domain, rec);
    return c;
}

bool dkim_record_matches(std::string_view published, std::string_view expected) {
    std::string p1 = tag(published, "p"), p2 = tag(expected, "p");
    if (p1.empty() || p1 != p2) return false;
    std::string k1 = str::lower(tag(published, "k")), k2 = str::lower(tag(expected, "k"));
    if (k1.empty()) k1 = "rsa";
    if (k2.empty()) k2 = "rsa";
    return k1 == k2;
}

std::vector<ExpectedKey> expected_keys(const IdentityConf& id) {
    std::vector<ExpectedKey> out;
    for (auto& k : id.dkim) {
        ExpectedKey e;
        e.selector = k.selector;
        std::ifstream f(k.key);
        if (!f) {
            e.error = k.key + ": cannot open";
        } else {
            std::stringstream ss;
            ss << f.rdbuf();
            auto txt = dkim::public_txt(ss.str());
            if (txt)
                e.txt = *txt;
            else
                e.error = k.key + ": " + txt.error().what;
        }
        out.push_back(std::move(e));
    }
    return out;
}

IdentityReport verify_identity(const IdentityConf& id, const std::vector<ExpectedKey>& keys, const dns::Lookup& dns,
                               const Spf& spf, const Dmarc& dmarc, int64_t now) {
    IdentityReport r;
    r.domain = id.domain;
    r.checked_at = now;
    for (auto& k : keys) r.checks.push_back(check_dkim(id, k, dns));
    if (!id.outbound_ips.empty()) r.checks.push_back(check_spf(id, dns, spf));
    r.checks.push_back(check_dmarc(id, dmarc));
    if (keys.empty()) {
        CheckResult c;
        c.kind = "dkim";
        c.name = id.domain;
        c.state = VerifyState::failed;
        c.detail = "no DKIM key configured for " + id.domain;
        r.checks.insert(r.checks.begin(), c);
    }
    r.state = VerifyState::verified;
    for (auto& c : r.checks)
        if (c.state == VerifyState::failed) {
            r.state = VerifyState::failed;
            if (r.reason.empty()) r.reason = c.detail;
        }
    if (r.state != VerifyState::failed)
        for (auto& c : r.checks)
            if (c.state == VerifyState::pending) {
                r.state = VerifyState::pending;
                if (r.reason.empty()) r.reason = c.detail;
            }
    r.pending_since = r.state == VerifyState::verified ? 0 : now;
    return r;
}

std::vector<IdentityReport> verify_all(const std::vector<IdentityConf>& ids, const dns::Lookup& dns, const Spf& spf,
                                       const Dmarc& dmarc, VerificationStore* store, int64_t now) {
    std::vector<IdentityReport> out;
    for (auto& id : ids) {
        IdentityReport r = verify_identity(id, expected_keys(id), dns, spf, dmarc, now);
        if (store) {
            if (auto st = store->save(r); !st)
                log::warn("identity " + id.domain + ": result not stored: " + st.error().what);
        }
        log::info("identity " + id.domain + ": " + std::string(verify_state_name(r.state)) +
                  (r.reason.empty() ? "" : " (" + r.reason + ")"));
        out.push_back(std::move(r));
    }
    return out;
}

// ---- JSON ---------------------------------------------------------------

nlohmann::json to_json(const IdentityReport& r) {
    nlohmann::json checks = nlohmann::json::array();
    for (auto& c : r.checks)
        checks.push_back({{"kind", c.kind},
                          {"name", c.name},
                          {"state", std::string(verify_state_name(c.state))},
                          {"detail", c.detail},
                          {"found", c.found},
                          {"publish", c.publish}});
    return {{"domain", r.domain},
            {"state", std::string(verify_state_name(r.state))},
            {"reason", r.reason},
            {"checked_at", r.checked_at},
            {"pending_since", r.pending_since},
            {"checks", checks}};
}

namespace {
std::optional<VerifyState> state_of(const std::string& s) {
    if (s == "verified") return VerifyState::verified;
    if (s == "pending") return VerifyState::pending;
    if (s == "failed") return VerifyState::failed;
    return std::nullopt;
}
}  // namespace

std::optional<IdentityReport> report_from_json(const nlohmann::json& j) {
    try {
        IdentityReport r;
        r.domain = j.at("domain").get<std::string>();
        auto st = state_of(j.at("state").get<std::string>());
        if (!st) return std::nullopt;
        r.state = *st;
        r.reason = j.value("reason", "");
        r.checked_at = j.value("checked_at", int64_t{0});
        r.pending_since = j.value("pending_since", int64_t{0});
        for (auto& c : j.value("checks", nlohmann::json::array())) {
            CheckResult x;
            x.kind = c.value("kind", "");
            x.name = c.value("name", "");
            x.state = state_of(c.value("state", "pending")).value_or(VerifyState::pending);
            x.detail = c.value("detail", "");
            x.found = c.value("found", "");
            x.publish = c.value("publish", "");
            r.checks.push_back(std::move(x));
        }
        return r;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

// ---- store ---------------------------------------------------------------

namespace {

bool table_declared() {
    for (auto& t : store::tables())
        if (t.name == VerificationStore::kTable) return true;
    return false;
}

Error no_table() { return internal_error("the store has no `identity_verification` table (store schema too old)"); }

}  // namespace

VerificationStore::VerificationStore(std::shared_ptr<store::Env> env) : env_(std::move(env)) {}

Status VerificationStore::save(IdentityReport& r) {
    if (!env_ || !table_declared()) return no_table();
    if (r.state != VerifyState::verified) {
        if (auto prev = load(r.domain); prev && prev->state != VerifyState::verified && prev->pending_since > 0)
            r.pending_since = std::min(r.pending_since, prev->pending_since);
    }
    std::string value(1, '\x01');
    value += to_json(r).dump();
    store::Table t = env_->table(kTable);
    std::string key = str::lower(r.domain);
    return env_->update([&](store::Txn& txn) -> Status {
        txn.put(t, key, value);
        return txn.status();
    });
}

std::optional<IdentityReport> VerificationStore::load(std::string_view domain) const {
    if (!env_ || !table_declared()) return std::nullopt;
    store::Table t = env_->table(kTable);
    std::optional<IdentityReport> out;
    std::string key = str::lower(domain);
    Status st = env_->view([&](store::Txn& txn) -> Status {
        auto v = txn.get(t, key);
        if (v && v->size() > 1 && (*v)[0] == '\x01') {
            auto j = nlohmann::json::parse(v->substr(1), nullptr, false);
            if (!j.is_discarded()) out = report_from_json(j);
        }
        return txn.status();
    });
    if (!st) return std::nullopt;
    return out;
}

std::vector<IdentityReport> VerificationStore::all() const {
    std::vector<IdentityReport> out;
    if (!env_ || !table_declared()) return out;
    store::Table t = env_->table(kTable);
    (void)env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, t);
        for (bool ok = c.first(); ok; ok = c.next()) {
            auto v = c.value();
            if (v.size() > 1 && v[0] == '\x01') {
                auto j = nlohmann::json::parse(v.substr(1), nullptr, false);
                if (!j.is_discarded())
                    if (auto r = report_from_json(j)) out.push_back(std::move(*r));
            }
        }
        return txn.status();
    });
    return out;
}

StatusFn VerificationStore::status_fn() const {
    return [this](std::string_view domain) -> std::optional<IdentityStatus> {
        auto r = load(domain);
        if (!r) return std::nullopt;
        return IdentityStatus{r->state, r->reason, r->checked_at};
    };
}

}  // namespace ses::auth
