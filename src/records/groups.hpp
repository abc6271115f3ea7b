// groups.hpp -- recipient groups: named lists of addresses, each with its
// own template variables, that batch tasks (tasks.hpp) send to.
//
// A group is created by name and gets a numeric id (the product's GroupId /
// ReceiverId).  Members come from a CSV file (RFC 4180: a header row with a
// column `email` plus one column per template variable, quoted fields may
// hold commas, quotes and line breaks) or from the product's JSON
// {"Datas": [{"Email": ..., "TemplateData": "{json}" | {...}}]}.  The
// parsers are pure: they report every bad row with its line number (entry
// number for JSON) and keep the good ones, skip repeats of an address within
// the file (counted), and stop at the configured size limits.  Members are
// kept under their lower-case address, so importing an address again
// replaces its variables.
//
// Errors: store failures and broken limits come back as Error with a message
// for the operator; bad rows are data (ParsedImport::errors), never an
// Error.  Thread safety: parsers are pure; Groups has no state besides the
// shared Env and may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

struct GroupLimits {
    size_t max_rows = 100000;     // members per group
    size_t max_row_bytes = 4096;  // bytes of one CSV record or JSON entry
};

struct GroupRow {
    std::string email;  // as given (trimmed)
    std::string data;   // template variables: a JSON object, compact
    size_t line = 0;    // where it started in the input (1-based)
};

struct RowError {
    size_t line = 0;  // 1-based line (CSV) or entry number (JSON)
    std::string message;
};

struct ParsedImport {
    std::vector<std::string> columns;  // CSV variable columns, in file order
    std::vector<GroupRow> rows;
    std::vector<RowError> errors;
    size_t duplicates = 0;   // repeats of an address within the input (first kept)
    bool truncated = false;  // stopped at max_rows
};

ParsedImport parse_group_csv(std::string_view text, const GroupLimits& lim);
ParsedImport parse_group_json(std::string_view text, const GroupLimits& lim);

// The address a member is kept under: lower case, trimmed; "" when `s` is
// not a plain addr-spec (one '@', no spaces, controls, quotes, brackets or
// commas).
std::string member_key(std::string_view s);

// One CSV field, quoted when it needs to be (RFC 4180).
std::string csv_field(std::string_view v);

struct GroupInfo {
    uint64_t id = 0;
    std::string name;
    int64_t created = 0;
    uint64_t count = 0;  // members
};

struct Member {
    std::string key;    // lower-case address (the table key)
    std::string email;  // as imported
    std::string data;   // JSON object text
};

struct ImportReport {
    size_t added = 0, replaced = 0;
};

class Groups {
public:
    Groups(std::shared_ptr<store::Env> env, GroupLimits lim);

    // Names are 1..128 printable characters and unique.
    Result<uint64_t> create(const std::string& name, int64_t now);
    Result<std::vector<GroupInfo>> list() const;
    Result<std::optional<GroupInfo>> get(uint64_t id) const;
    Status remove(uint64_t id);  // the group and its members; unknown id: error
    // Adds or replaces rows; refused whole (nothing written) when the group
    // would exceed max_rows or does not exist.
    Result<ImportReport> add(uint64_t id, const std::vector<GroupRow>& rows);
    // Removes members by address; how many went.
    Result<size_t> remove_members(uint64_t id, const std::vector<std::string>& emails);
    // Members in address order after `after_key` (exclusive; "" = from the
    // start), at most `n`.
    std::vector<Member> members(store::Txn& txn, uint64_t id, std::string_view after_key, size_t n) const;
    std::optional<GroupInfo> get(store::Txn& txn, uint64_t id) const;
    std::optional<Member> member(store::Txn& txn, uint64_t id, std::string_view key) const;
    // The whole group as CSV: `email` plus the union of its variables.
    Result<std::string> export_csv(uint64_t id) const;

    const GroupLimits& limits() const { return lim_; }

private:
    std::shared_ptr<store::Env> env_;
    GroupLimits lim_;
    store::Table groups_, members_, meta_;
};

}  // namespace ses::records
