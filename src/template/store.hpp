// store.hpp -- where templates are kept.
//
// TemplateStore is the interface the template stage and `sesctl template`
// use; LmdbTemplateStore (lmdb_store.hpp) keeps templates in the shared
// LMDB environment, MemoryTemplateStore serves tests and `sesctl template
// render` of a file.  Errors: store failures are internal errors (the milter
// answers `on_error`); an absent template is not an error (nullopt / false).
// Implementations are thread-safe for concurrent get().
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/template.hpp"
#include "util/result.hpp"

namespace ses::tmpl {

class TemplateStore {
public:
    virtual ~TemplateStore() = default;
    virtual Result<std::optional<Template>> get(std::string_view name) const = 0;
    // Insert or replace.  The caller has run check() and set the times.
    virtual Status put(const Template& t) = 0;
    // false when there was no such template.
    virtual Result<bool> remove(std::string_view name) = 0;
    // Sorted by name.
    virtual Result<std::vector<Template>> list() const = 0;
};

class MemoryTemplateStore : public TemplateStore {
public:
    Result<std::optional<Template>> get(std::string_view name) const override;
    Status put(const Template& t) override;
    Result<bool> remove(std::string_view name) override;
    Result<std::vector<Template>> list() const override;

private:
    mutable std::mutex mu_;
    std::map<std::string, Template, std::less<>> items_;
};

}  // namespace ses::tmpl
