// policy.cpp -- see policy.hpp.
#include "policy/policy.hpp"

#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include "util/log.hpp"

namespace ses::policy {

namespace {

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return internal_error("policy: cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Limits limits_of(const Settings& s) { return Limits{s.instruction_limit, s.memory_limit, s.time_limit_ms}; }

std::string one_line(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        bool ws = c == '\r' || c == '\n' || c == '\t';
        if (ws && !space) out += ' ';
        if (!ws) out += c;
        space = ws;
    }
    return out;
}
}  // namespace

Result<std::vector<std::string>> check_script(const Settings& s, std::span<const HookDef> hooks) {
    if (s.script.empty()) return std::vector<std::string>{};
    auto src = read_file(s.script);
    if (!src) return src.error();
    auto rt = LuaRuntime::load(*src, s.script, limits_of(s), hooks);
    if (!rt) return internal_error("policy: " + s.script + ": " + rt.error().what);
    std::vector<std::string> out;
    for (const auto& w : (*rt)->hook_warnings()) out.push_back(s.script + ": " + w);
    return out;
}

Result<std::shared_ptr<Policy>> Policy::open(const Settings& s, std::span<const HookDef> hooks) {
    std::shared_ptr<Policy> p(new Policy(s, hooks));
    if (s.script.empty()) return p;
    auto src = read_file(s.script);
    if (!src) return src.error();
    if (Status st = p->install(std::move(*src), s.script); !st) return st.error();
    return p;
}

Result<std::shared_ptr<Policy>> Policy::from_source(std::string source, std::string name, const Settings& s,
                                                    std::span<const HookDef> hooks) {
    std::shared_ptr<Policy> p(new Policy(s, hooks));
    if (Status st = p->install(std::move(source), std::move(name)); !st) return st.error();
    return p;
}

Status Policy::reload() {
    if (settings_.script.empty()) return ok_status();
    auto src = read_file(settings_.script);
    if (!src) return src.error();
    return install(std::move(*src), settings_.script);
}

Status Policy::replace_source(std::string source, std::string name) {
    return install(std::move(source), std::move(name));
}

Status Policy::install(std::string source, std::string name) {
    auto rt = LuaRuntime::load(source, name, limits_of(settings_), hooks_);
    if (!rt) return internal_error("policy: " + name + " refused: " + rt.error().what);
    for (const auto& w : (*rt)->hook_warnings()) log::warn("policy: " + name + ": " + w);
    auto script = std::make_shared<Script>();
    script->source = std::move(source);
    script->name = std::move(name);
    for (size_t i = 0; i < hooks_.size(); ++i)
        if ((*rt)->has(hooks_[i].name)) script->hooks |= 1u << i;
    std::lock_guard<std::mutex> g(mu_);
    script->generation = script_ ? script_->generation + 1 : 1;
    script_ = script;
    idle_.clear();
    idle_.push_back(std::move(*rt));
    return ok_status();
}

uint64_t Policy::generation() const {
    std::lock_guard<std::mutex> g(mu_);
    return script_ ? script_->generation : 0;
}

std::string Policy::describe() const {
    std::lock_guard<std::mutex> g(mu_);
    if (!script_) return "built-in rules";
    return "script " + script_->name;
}

bool Policy::script_has(const Script* s, size_t i) const { return s && (s->hooks & (1u << i)); }

bool Policy::has(std::string_view hook) const {
    std::lock_guard<std::mutex> g(mu_);
    for (size_t i = 0; i < hooks_.size(); ++i)
        if (hooks_[i].name == hook) return script_has(script_.get(), i);
    return false;
}

std::unique_ptr<LuaRuntime> Policy::take(const Script& script) {
    {
        std::lock_guard<std::mutex> g(mu_);
        // Idle states always run the current script.
        if (script_ && script_->generation == script.generation && !idle_.empty()) {
            auto rt = std::move(idle_.back());
            idle_.pop_back();
            return rt;
        }
    }
    // A new state for this script (it loaded before, so this fails only on
    // memory or a script that misbehaves at random).
    auto rt = LuaRuntime::load(script.source, script.name, limits_of(settings_), hooks_);
    if (!rt) {
        log::warn("policy: cannot start a Lua state: " + rt.error().what);
        return nullptr;
    }
    return std::move(*rt);
}

void Policy::give_back(std::unique_ptr<LuaRuntime> rt, uint64_t generation) {
    if (!rt || rt->broken()) return;
    std::lock_guard<std::mutex> g(mu_);
    if (script_ && script_->generation == generation && idle_.size() < settings_.max_idle_states)
        idle_.push_back(std::move(rt));
}

void Policy::fell_back(std::string_view hook, const Error& e) {
    fallbacks_++;
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    uint64_t more = 0;
    {
        std::lock_guard<std::mutex> g(log_mu_);
        auto it = last_log_.find(hook);
        if (it == last_log_.end()) it = last_log_.emplace(std::string(hook), std::pair<int64_t, uint64_t>{0, 0}).first;
        if (it->second.first == now) {
            it->second.second++;
            return;
        }
        it->second.first = now;
        more = std::exchange(it->second.second, 0);
    }
    std::string what = one_line(e.what);  // the traceback folded
    std::string line = "policy: " + what + "; using the built-in rule";
    if (more) line += " (" + std::to_string(more) + " similar failures not logged)";
    log::warn(line);
}

std::optional<Result<Value>> Policy::call(std::string_view hook, const std::vector<Value>& args) {
    std::shared_ptr<const Script> script;
    {
        std::lock_guard<std::mutex> g(mu_);
        script = script_;
    }
    size_t index = hooks_.size();
    for (size_t i = 0; i < hooks_.size(); ++i)
        if (hooks_[i].name == hook) index = i;
    if (index == hooks_.size() || !script_has(script.get(), index)) return std::nullopt;
    auto rt = take(*script);
    if (!rt) return Result<Value>(internal_error(std::string(hook) + ": no Lua state"));
    auto r = rt->call(hook, args);
    if (!r && rt->stalled()) stalls_++;
    give_back(std::move(rt), script->generation);
    return r;
}

}  // namespace ses::policy
