// static_lookup.cpp -- see static_lookup.hpp.
#include "dns/static_lookup.hpp"

#include "util/strings.hpp"

namespace ses::dns {

namespace {
std::string key(std::string_view name) {
    std::string n = str::lower(name);
    if (!n.empty() && n.back() == '.') n.pop_back();
    return n;
}
}  // namespace

StaticLookup& StaticLookup::add(std::string_view name, uint16_t type, std::string value) {
    std::string k = key(name);
    names_.insert(k);
    records_[{k, type}].push_back(std::move(value));
    return *this;
}

StaticLookup& StaticLookup::fail(std::string_view name, uint16_t type, std::string why) {
    std::string k = key(name);
    names_.insert(k);
    failures_[{k, type}] = std::move(why);
    return *this;
}

Answer StaticLookup::query(std::string_view name, uint16_t type) const {
    std::string k = key(name);
    {
        std::lock_guard<std::mutex> g(m_);
        asked_.push_back(k + " " + std::string(type_name(type)));
    }
    Answer a;
    if (!valid_name(name)) {
        a.rcode = Rcode::nxdomain;
        return a;
    }
    if (auto f = failures_.find({k, type}); f != failures_.end()) {
        a.rcode = Rcode::temperror;
        a.why = f->second;
        return a;
    }
    if (auto r = records_.find({k, type}); r != records_.end()) {
        a.rcode = Rcode::ok;
        a.values = r->second;
        return a;
    }
    a.rcode = names_.count(k) ? Rcode::nodata : Rcode::nxdomain;
    return a;
}

std::vector<std::string> StaticLookup::questions() const {
    std::lock_guard<std::mutex> g(m_);
    return asked_;
}

}  // namespace ses::dns
