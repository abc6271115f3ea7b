// store.cpp -- see store.hpp.
#include "template/store.hpp"

namespace ses::tmpl {

Result<std::optional<Template>> MemoryTemplateStore::get(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = items_.find(name);
    if (it == items_.end()) return std::optional<Template>();
    return std::optional<Template>(it->second);
}

Status MemoryTemplateStore::put(const Template& t) {
    std::lock_guard lock(mu_);
    items_[t.name] = t;
    return ok_status();
}

Result<bool> MemoryTemplateStore::remove(std::string_view name) {
    std::lock_guard lock(mu_);
    auto it = items_.find(name);
    if (it == items_.end()) return false;
    items_.erase(it);
    return true;
}

Result<std::vector<Template>> MemoryTemplateStore::list() const {
    std::lock_guard lock(mu_);
    std::vector<Template> out;
    for (auto& [k, v] : items_) out.push_back(v);
    return out;
}

}  // namespace ses::tmpl
