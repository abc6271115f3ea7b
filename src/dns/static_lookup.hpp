// static_lookup.hpp -- a Lookup answered from an in-memory zone.
//
// For unit tests and for checking records before they are published: names
// with records answer ok, a name that exists with other types answers nodata,
// unknown names nxdomain; fail() makes one (name, type) a temperror.  Names
// are case-insensitive, trailing dots ignored.  Fill it before sharing it;
// query() is then safe from many threads (the question log takes a lock).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dns/answer.hpp"

namespace ses::dns {

class StaticLookup final : public Lookup {
public:
    StaticLookup& add(std::string_view name, uint16_t type, std::string value);
    StaticLookup& fail(std::string_view name, uint16_t type, std::string why = "simulated timeout");

    Answer query(std::string_view name, uint16_t type) const override;

    // Every question asked so far, as "name TYPE".
    std::vector<std::string> questions() const;

private:
    std::map<std::pair<std::string, uint16_t>, std::vector<std::string>> records_;
    std::map<std::pair<std::string, uint16_t>, std::string> failures_;
    std::set<std::string> names_;
    mutable std::mutex m_;
    mutable std::vector<std::string> asked_;
};

}  // namespace ses::dns
