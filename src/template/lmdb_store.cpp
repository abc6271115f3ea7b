// lmdb_store.cpp -- see lmdb_store.hpp.
#include "template/lmdb_store.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"

namespace ses::tmpl {

using json = nlohmann::json;

namespace {

constexpr char kVersion = 1;
constexpr std::string_view kNextIdKey = "template_next_id";

bool declared(std::string_view name) {
    auto t = store::tables();
    return std::any_of(t.begin(), t.end(), [&](const store::TableDef& d) { return d.name == name; });
}

Result<json> decode(std::string_view v, std::string_view what) {
    if (v.empty() || v[0] != kVersion) return internal_error("store: " + std::string(what) + ": unknown record layout");
    json j = json::parse(v.substr(1), nullptr, false);
    if (j.is_discarded()) return internal_error("store: " + std::string(what) + ": record is not JSON");
    return j;
}

std::string encode(const json& j) { return std::string(1, kVersion) + j.dump(); }

}  // namespace

Result<std::unique_ptr<LmdbTemplateStore>> LmdbTemplateStore::open(std::shared_ptr<store::Env> env) {
    if (!env) return internal_error("template store: no store environment");
    for (auto name : {kTemplatesTable, kFailuresTable})
        if (!declared(name))
            return internal_error("template store: table " + std::string(name) +
                                  " is not declared in the store schema");
    return std::unique_ptr<LmdbTemplateStore>(new LmdbTemplateStore(std::move(env)));
}

Result<std::optional<Template>> LmdbTemplateStore::get(std::string_view name) const {
    std::optional<Template> out;
    Status s = env_->view([&](store::Txn& txn) -> Status {
        auto v = txn.get(env_->table(kTemplatesTable), name);
        if (!v) return ok_status();
        {
            std::lock_guard lock(cache_mu_);
            auto it = cache_.find(name);
            if (it != cache_.end() && it->second.record == *v) {
                out = it->second.t;
                return ok_status();
            }
        }
        auto j = decode(*v, "template " + std::string(name));
        if (!j) return j.error();
        auto t = from_json(*j);
        if (!t) return t.error();
        out = *t;
        std::lock_guard lock(cache_mu_);
        if (cache_.size() >= 256) cache_.clear();  // a bound, not an LRU: templates are few
        cache_.insert_or_assign(std::string(name), Cached{std::string(*v), std::move(*t)});
        return ok_status();
    });
    if (!s) return s.error();
    return out;
}

Status LmdbTemplateStore::put(const Template& t) {
    return env_->update([&](store::Txn& txn) -> Status {
        Template stored = t;
        stored.id = 0;
        if (auto old = txn.get(env_->table(kTemplatesTable), t.name)) {
            auto j = decode(*old, "template " + t.name);
            if (j && j->is_object()) stored.id = j->value("id", int64_t{0});
        }
        if (stored.id == 0) {
            auto meta = env_->table(store::table::meta);
            auto next = txn.get(meta, kNextIdKey);
            stored.id = next && next->size() == 8 ? int64_t(store::get_u64be(*next, 0)) : 1;
            std::string v;
            store::put_u64be(v, uint64_t(stored.id + 1));
            txn.put(meta, kNextIdKey, v);
        }
        txn.put(env_->table(kTemplatesTable), t.name, encode(to_json(stored)));
        return txn.status();
    });
}

Result<std::optional<Template>> LmdbTemplateStore::get_by_id(int64_t id) const {
    auto all = list();
    if (!all) return all.error();
    for (auto& t : *all)
        if (t.id == id) return std::optional<Template>(std::move(t));
    return std::optional<Template>();
}

Result<bool> LmdbTemplateStore::remove(std::string_view name) {
    bool found = false;
    Status s = env_->update([&](store::Txn& txn) -> Status {
        found = txn.del(env_->table(kTemplatesTable), name);
        return txn.status();
    });
    if (!s) return s.error();
    return found;
}

Result<std::vector<Template>> LmdbTemplateStore::list() const {
    std::vector<Template> out;
    Status s = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, env_->table(kTemplatesTable));
        for (bool ok = c.first(); ok; ok = c.next()) {
            auto j = decode(c.value(), "template " + std::string(c.key()));
            if (!j) return j.error();
            auto t = from_json(*j);
            if (!t) return t.error();
            out.push_back(std::move(*t));
        }
        return ok_status();
    });
    if (!s) return s.error();
    return out;
}

Status LmdbTemplateStore::record_failure(const RenderingFailure& f) {
    static std::atomic<uint32_t> seq{0};
    std::string key = store::KeyBuilder().i64(f.time).text0(f.queue_id).u32(seq++).take();
    std::string value = encode(to_json(f));
    return env_->update([&](store::Txn& txn) -> Status {
        txn.put(env_->table(kFailuresTable), key, value);
        return txn.status();
    });
}

Result<std::vector<RenderingFailure>> LmdbTemplateStore::failures(int64_t since, size_t limit) const {
    std::vector<RenderingFailure> out;
    Status s = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, env_->table(kFailuresTable));
        std::string from = store::KeyBuilder().i64(since).take();
        for (bool ok = c.last(); ok && out.size() < limit; ok = c.prev()) {
            if (c.key() < std::string_view(from)) break;
            auto j = decode(c.value(), "rendering failure");
            if (!j) return j.error();
            RenderingFailure f;
            f.time = clock::parse_rfc3339(j->value("time", std::string())).value_or(0);
            f.template_name = j->value("template", std::string());
            f.reason = j->value("reason", std::string());
            f.queue_id = j->value("queue_id", std::string());
            f.message_id = j->value("message_id", std::string());
            f.mail_from = j->value("mail_from", std::string());
            if (j->contains("rcpts") && (*j)["rcpts"].is_array())
                for (auto& r : (*j)["rcpts"])
                    if (r.is_string()) f.rcpts.push_back(r.get<std::string>());
            out.push_back(std::move(f));
        }
        return ok_status();
    });
    if (!s) return s.error();
    return out;
}

}  // namespace ses::tmpl
