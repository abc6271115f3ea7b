// services.cpp -- see services.hpp.
#include "services/services.hpp"

#include "records/submission_id.hpp"

#include <fstream>
#include <sstream>

#include "mta/adapter.hpp"
#include "services/records_service.hpp"
#include "services/task_runner.hpp"
#include "auth/from_config.hpp"
#include "auth/identity.hpp"
#include "mail/address.hpp"
#include "util/daemon.hpp"
#include "mta/settings.hpp"
#include "policy/settings.hpp"
#include "services/warmup_stack.hpp"
#include "services/webhook_sender.hpp"
#include "warmup/hooks.hpp"
#include "store/settings.hpp"
#include "util/log.hpp"

namespace ses::services {
namespace {

// The release scheduler as a Service; it stays a member of Services.
class SchedulerService : public Service {
public:
    explicit SchedulerService(ReleaseScheduler& s) : s_(s) {}
    std::string_view name() const override { return "release scheduler"; }
    void start() override { s_.start(); }
    void stop() override { s_.stop(); }

private:
    ReleaseScheduler& s_;
};

}  // namespace

// Hard bounces and complaints that the delivery follower records count
// against the sending identity's warm-up day (the day the message was
// sent), in the same transaction, so should_upgrade sees real rates without
// `sesctl warmup feedback`.  Simulated mail never touches reputation.
std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> warmup_feedback(
    std::shared_ptr<warmup::Engine> engine) {
    return [engine](store::Txn& txn, const records::MessageRecord& rec, const records::Event& e) {
        if (rec.simulated || e.simulated || rec.identity.empty()) return;
        bool hard = e.type == records::EventType::bounce && e.bounce == records::BounceType::hard;
        bool complaint = e.type == records::EventType::spamreport;
        if (!hard && !complaint) return;
        // The fleet counts an event once however often a batch is retried.
        std::string event = rec.id + '\0' + e.recipient + '\0' + std::to_string(e.time) + '\0' + (hard ? "b" : "c");
        engine->add_feedback(txn, warmup::IdentityKey::domain(rec.identity), hard ? 1 : 0, complaint ? 1 : 0,
                             engine->time_zone().day_of(rec.request_time), event);
    };
}

std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> event_feedback(
    const Services& s) {
    std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> warm;
    if (s.warmup) warm = warmup_feedback(s.warmup);
    auto list = s.suppression;
    if (!warm && !list) return {};
    return [warm, list](store::Txn& txn, const records::MessageRecord& rec, const records::Event& e) {
        if (warm) warm(txn, rec, e);
        // A failure is sticky in the transaction: the whole batch is retried.
        if (list) (void)list->note_event(txn, rec, e);
    };
}

Result<MessageStoreHandles> open_message_store(const config::Config& cfg, std::shared_ptr<store::Env> env,
                                               std::shared_ptr<store::SharedState> shared) {
    MessageStoreHandles out;
    records::StoreSettings rs;
    rs.mailbox_groups = cfg.get(config::key::records::mailbox_groups);
    rs.shared = std::move(shared);
    if (!cfg.webhooks.empty()) {
        auto subs = records::subscriptions_from(cfg);
        if (!subs) return subs.error();
        auto outbox = std::make_shared<records::Outbox>(env, std::move(*subs));
        out.outbox = outbox;
        rs.on_event = [outbox](store::Txn& txn, const records::Event& e) { return outbox->on_event(txn, e); };
    }
    auto recs = records::MessageStore::open(std::move(env), std::move(rs));
    if (!recs) return Error{"message records: " + recs.error().what, {}};
    out.records = std::move(*recs);
    return out;
}

Result<std::shared_ptr<Services>> Services::open(const config::Config& cfg) {
    auto s = std::make_shared<Services>();
    s->warmup_settings = warmup::from_config(cfg);
    s->store_options = store::options_from(cfg);
    s->policy_settings = policy::settings_from(cfg);
    s->mta_settings = mta::settings_from(cfg);
    const auto& ws = s->warmup_settings;
    const auto& so = s->store_options;
    if (auto st = daemon::make_directories(so.path, 0750); !st) return internal_error("store.path: " + st.error().what);
    auto env = store::Env::open(so);
    if (!env) return Error{"store " + so.path + ": " + env.error().what, {}};
    s->store = *env;
    if (auto so2 = store::shared_options_from(cfg); so2.backend != "lmdb") {
        auto sh = store::open_shared_state(so2, s->store);
        if (!sh) return Error{"store.redis_url: " + sh.error().what, {}};
        s->shared = *sh;
    }
    auto templates = tmpl::LmdbTemplateStore::open(s->store);
    if (!templates) return Error{"template store: " + templates.error().what, {}};
    s->templates = std::move(*templates);
    if (!cfg.webhooks.empty() && !cfg.get(config::key::records::enabled))
        return internal_error("[[webhook]]: webhooks send the events of message records; set [records] enabled = true");
    if (cfg.get(config::key::records::enabled)) {
        auto h = open_message_store(cfg, s->store, s->shared);
        if (!h) return h.error();
        s->records = std::move(h->records);
        s->outbox = std::move(h->outbox);
        if (cfg.get(config::key::suppression::enabled)) {
            records::SuppressionSettings ss;
            ss.per_identity = cfg.get(config::key::suppression::scope) == "identity";
            ss.hard_bounce_expiry = cfg.get(config::key::suppression::hard_bounce_expiry);
            ss.complaint_expiry = cfg.get(config::key::suppression::complaint_expiry);
            auto list = records::SuppressionList::open(s->store, ss, s->shared);
            if (!list) return Error{"suppression list: " + list.error().what, {}};
            s->suppression = std::move(*list);
        }
        auto tracking = records::Tracking::open(s->store, s->records, s->suppression, records::tracking_settings(cfg));
        if (!tracking) return Error{"tracking: " + tracking.error().what, {}};
        s->tracking = std::move(*tracking);
        auto key = records::submission_key(*s->store);
        if (!key) return Error{"submission key: " + key.error().what, {}};
        s->submission_key = std::move(*key);
    }
    auto send = send_settings_from(cfg);
    if (!send) return send.error();
    s->send = std::make_shared<const SendSettings>(std::move(*send));
    if (ws.enabled) {
        auto stack = open_warmup_stack(cfg, s->store, s->shared);  // the same builder as sesctl's
        if (!stack) return stack.error();
        s->policy = stack->policy;
        s->warmup = stack->engine;
        if (ws.release_scheduler)
            s->scheduler = std::make_unique<ReleaseScheduler>(*s->warmup, mta::make_adapter(stack->mta_settings),
                                                              ws.release_interval);
    } else if (auto checked = check_policy(cfg); !checked) {
        // Not used while warm-up is off, but a script that is named and does
        // not load is a mistake to report now, not when warm-up is turned on.
        return checked.error();
    }
    if (s->scheduler) {
        s->scheduler->set_records(s->records);
        s->add(std::make_unique<SchedulerService>(*s->scheduler));
    }
    if (s->records) {
        RecordsServiceSettings rs;
        rs.log_file = cfg.get(config::key::mta::log_file);
        rs.poll_interval = cfg.get(config::key::mta::log_poll_interval);
        rs.purge_interval = cfg.get(config::key::records::purge_interval);
        rs.keep_days = cfg.get(config::key::records::keep_days);
        auto follower = std::make_unique<RecordsService>(s->store, s->records, std::move(rs));
        follower->tracking = s->tracking;
        follower->on_event = event_feedback(*s);
        s->add(std::move(follower));
    }
    {
        auto ids = auth::identities(cfg);
        bool subdomains = cfg.get(config::key::dkim::subdomains);
        s->identity_of = [ids, subdomains](std::string_view address) -> std::string {
            const auth::IdentityConf* id = auth::find_identity(ids, mail::domain_of(address), subdomains);
            return id ? id->domain : std::string();
        };
    }
    if (s->records) {
        records::GroupLimits gl;
        gl.max_rows = static_cast<size_t>(cfg.get(config::key::tasks::max_rows));
        gl.max_row_bytes = static_cast<size_t>(cfg.get(config::key::tasks::max_row_bytes));
        s->groups = std::make_shared<records::Groups>(s->store, gl);
        s->tasks = std::make_shared<records::Tasks>(s->store);
        TaskRunnerSettings ts;
        if (auto st = parse_smtp_address(cfg.get(config::key::send::smtp), ts.smtp); !st)
            return Error{"send.smtp: " + st.error().what, {}};
        ts.batch = static_cast<size_t>(cfg.get(config::key::tasks::batch));
        ts.poll_interval = cfg.get(config::key::tasks::poll_interval);
        ts.retry = cfg.get(config::key::tasks::retry);
        auto runner = std::make_unique<TaskRunner>(s->store, s->groups, s->tasks, s->suppression, s->warmup,
                                                   s->submission_key, s->identity_of, std::move(ts));
        s->task_runner = runner.get();
        s->add(std::move(runner));
    }
    if (s->outbox) s->add(std::make_unique<WebhookSender>(s->store, s->records, s->outbox, webhook_settings_from(cfg)));
    return s;
}

Result<std::string> Services::check_policy(const config::Config& cfg) {
    policy::Settings ps = policy::settings_from(cfg);
    auto pol = policy::Policy::open(ps, warmup::hook_defs());
    if (!pol) return Error{"policy.script: " + pol.error().what, {}};
    std::string hooks;
    for (const auto& h : warmup::hook_defs())
        if ((*pol)->has(h.name)) hooks += (hooks.empty() ? "" : ", ") + std::string(h.name);
    return (*pol)->describe() + (ps.script.empty() ? "" : " (hooks: " + (hooks.empty() ? "none" : hooks) + ")");
}

void Services::add(std::unique_ptr<Service> s) { list_.push_back(std::move(s)); }

void Services::start() {
    started_ = true;
    for (auto& s : list_) {
        s->start();
        log::debug("started: " + std::string(s->name()));
    }
}

Result<StagedReload> Services::stage_reload(const config::Config& cfg) const {
    warmup::Settings next = warmup::from_config(cfg);
    policy::Settings next_policy = policy::settings_from(cfg);
    mta::Settings next_mta = mta::settings_from(cfg);
    if (next.enabled != warmup_settings.enabled || store::options_from(cfg).path != store_options.path ||
        next.time_zone != warmup_settings.time_zone || next_policy.script != policy_settings.script ||
        next_mta.kind != mta_settings.kind || next_mta.config_directory != mta_settings.config_directory)
        log::warn("reload: [warmup], [policy] script, [store] and [mta] changes take effect after a restart");
    StagedReload staged;
    const std::string& path = policy_settings.script;
    if (!policy || path.empty()) return staged;
    std::ifstream in(path, std::ios::binary);
    if (!in) return internal_error("policy.script: cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    // Loaded into a Policy of its own: the running one is not touched.
    auto trial = policy::Policy::from_source(text.str(), path, policy_settings, warmup::hook_defs());
    if (!trial) return Error{"policy.script: " + trial.error().what, {}};
    staged.has_script = true;
    staged.script_source = text.str();
    staged.script_name = path;
    return staged;
}

Status Services::commit_reload(StagedReload staged) {
    if (!staged.has_script || !policy) return ok_status();
    if (auto st = policy->replace_source(std::move(staged.script_source), std::move(staged.script_name)); !st)
        return Error{"policy.script: " + st.error().what, {}};
    return ok_status();
}

void Services::stop() {
    if (!started_) return;
    started_ = false;
    for (auto it = list_.rbegin(); it != list_.rend(); ++it) {
        (*it)->stop();
        log::debug("stopped: " + std::string((*it)->name()));
    }
}

Services::~Services() { stop(); }

}  // namespace ses::services
