// lmdb_store.hpp -- templates and rendering failures in the LMDB store.
//
// Table `templates`: key = the template name (bytes), value = u8 layout
// version (1) + the template's JSON document (template.hpp to_json).
// put() gives a new template the next integer id (counter
// `template_next_id` in `meta`, never reused after a delete) and keeps the
// id of a template it replaces; templates stored before ids existed get
// one at their next put.
// Table `template_failures`: key = time (i64, order-preserving) + queue id
// + NUL + u32 sequence, value = u8 version (1) + the RenderingFailure as
// JSON.  Both tables are declared in src/store/schema.cpp.
//
// Errors: LMDB failures and undecodable records are internal errors.
// Thread-safe: every call is one short transaction on the shared Env; the
// decoded-template cache has its own lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.hpp"
#include "store/schema.hpp"
#include "template/stage.hpp"
#include "template/store.hpp"

namespace ses::tmpl {

inline constexpr std::string_view kTemplatesTable = store::table::templates;
inline constexpr std::string_view kFailuresTable = store::table::template_failures;

class LmdbTemplateStore : public TemplateStore {
public:
    static Result<std::unique_ptr<LmdbTemplateStore>> open(std::shared_ptr<store::Env> env);

    Result<std::optional<Template>> get(std::string_view name) const override;
    Status put(const Template& t) override;
    Result<bool> remove(std::string_view name) override;
    Result<std::vector<Template>> list() const override;
    // The template whose id is ID (a scan: templates are few).
    Result<std::optional<Template>> get_by_id(int64_t id) const;

    // RenderingFailure records, for the statistics.
    Status record_failure(const RenderingFailure& f);
    // Newest first, at most `limit`, with time >= `since`.
    Result<std::vector<RenderingFailure>> failures(int64_t since, size_t limit) const;

private:
    explicit LmdbTemplateStore(std::shared_ptr<store::Env> env) : env_(std::move(env)) {}
    std::shared_ptr<store::Env> env_;

    // Decoded templates by name with the record they came from: a get()
    // whose record is unchanged (a byte comparison) skips the JSON parse
    // of the whole document.  Any change, by this process or by sesctl,
    // changes the record and is seen at once.
    struct Cached {
        std::string record;
        Template t;
    };
    mutable std::mutex cache_mu_;
    mutable std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace ses::tmpl
