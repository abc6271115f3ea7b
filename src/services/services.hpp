// services.hpp -- the long-lived parts of the daemon.
//
// The LMDB environment (opened once per process, after daemonizing), the Lua
// policy, the warm-up engine and the release scheduler live as long as the
// process; a configuration reload swaps the Runtime snapshot around them and
// re-reads the policy script.  Changing [store], [mta] or [warmup] settings
// other than the script needs a restart (logged at reload).
//
// Background work (release scheduler, identity re-check, reload thread,
// delivery log follower and records purge, webhook sender, HTTP endpoint) is a list of Service objects owned
// here: start() starts them in the order added, stop() stops them in reverse.
//
// A reload is two steps so that it is all or nothing: stage_reload() reads
// and checks the new policy script in a Lua state of its own without
// touching the running one; commit_reload() installs what was staged.
//
// Thread safety: open/add/start/stop from the main thread; stage/commit from
// the one reload thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "mta/adapter.hpp"
#include "policy/policy.hpp"
#include "records/groups.hpp"
#include "records/message_store.hpp"
#include "records/tasks.hpp"
#include "records/suppression.hpp"
#include "records/outbox.hpp"
#include "records/tracking.hpp"
#include "services/release_scheduler.hpp"
#include "services/send_settings.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "template/lmdb_store.hpp"
#include "util/result.hpp"
#include "warmup/engine.hpp"
#include "warmup/settings.hpp"

namespace ses::services {

class TaskRunner;

// A background part of the daemon.  stop() waits for its thread and may be
// called more than once.
class Service {
public:
    virtual ~Service() = default;
    virtual std::string_view name() const = 0;
    virtual void start() = 0;
    virtual void stop() = 0;
};

// What a reload will install once everything else has been checked.
struct StagedReload {
    bool has_script = false;
    std::string script_source, script_name;
};

struct Services {
    warmup::Settings warmup_settings;
    store::Options store_options;  // as started: changes need a restart
    policy::Settings policy_settings;
    mta::Settings mta_settings;
    std::shared_ptr<store::Env> store;
    // The fleet's shared state ([store] backend = "redis"); null with lmdb.
    std::shared_ptr<store::SharedState> shared;
    std::shared_ptr<policy::Policy> policy;
    std::shared_ptr<warmup::Engine> warmup;  // null when warm-up is off
    std::unique_ptr<ReleaseScheduler> scheduler;
    std::shared_ptr<tmpl::LmdbTemplateStore> templates;
    std::shared_ptr<records::MessageStore> records;  // null when [records] enabled = false
    // null when [records] or [suppression] is off
    std::shared_ptr<records::SuppressionList> suppression;
    std::shared_ptr<records::Outbox> outbox;  // null without [[webhook]]s
    // Tracking tokens, links and the /o /c /u handlers; null when [records] is off.
    std::shared_ptr<records::Tracking> tracking;
    // The secret of X-SES-Submission (records/submission_id.hpp): empty when
    // [records] is off, since the id it names is a record's.
    std::string submission_key;
    // [send] and the identities as started (send_settings.hpp).
    std::shared_ptr<const SendSettings> send;
    // Recipient groups and batch tasks (docs/tasks.md); null when [records]
    // is off (a task's messages are records).  The runner is owned by the
    // service list; the routes wake it.
    std::shared_ptr<records::Groups> groups;
    std::shared_ptr<records::Tasks> tasks;
    TaskRunner* task_runner = nullptr;
    // The configured identity a sender address sends as ("" for none), as
    // the milter resolves it.
    std::function<std::string(std::string_view)> identity_of;

    // Opens the store, the template store, the message records (with their
    // follower and purge service) when records are on and, when warm-up is
    // on, the policy and the engine.
    static Result<std::shared_ptr<Services>> open(const config::Config& cfg);
    // Checks the policy script as open() would (also with warm-up off), for
    // start-up and --check-config: "script PATH (hooks: ...)" or the error.
    static Result<std::string> check_policy(const config::Config& cfg);

    void add(std::unique_ptr<Service> s);
    void start();  // every service, in the order added
    void stop();   // every service, in reverse order

    // Logs what needs a restart; fails when the new policy script does not load.
    Result<StagedReload> stage_reload(const config::Config& cfg) const;
    Status commit_reload(StagedReload staged);
    ~Services();

private:
    std::vector<std::unique_ptr<Service>> list_;
    bool started_ = false;
};

// The message records with [records] settings and, when [[webhook]]s are
// configured, the webhook outbox attached (every event written through the
// store gets its outbox entries in the same transaction).  The daemon and
// every sesctl command that writes events open the records this way, so no
// event bypasses the webhooks.  Fails on an unknown event name in a
// webhook's `events`.
struct MessageStoreHandles {
    std::shared_ptr<records::MessageStore> records;
    std::shared_ptr<records::Outbox> outbox;  // null without [[webhook]]s
};
// `shared`: the fleet's shared state (the statistics are counted there too).
Result<MessageStoreHandles> open_message_store(const config::Config& cfg, std::shared_ptr<store::Env> env,
                                               std::shared_ptr<store::SharedState> shared = nullptr);

// The delivery follower's hook feeding hard bounces and complaints into the
// identity's warm-up day counters, inside the follower's transaction.
std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> warmup_feedback(
    std::shared_ptr<warmup::Engine> engine);

// Everything a recorded status change feeds, inside its transaction: the
// warm-up reputation (when warm-up is on) and the suppression list (when it
// is on).  Empty when neither is.
std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> event_feedback(
    const Services& s);

}  // namespace ses::services
