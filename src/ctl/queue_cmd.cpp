// queue_cmd.cpp -- `sesctl queue held` and `sesctl queue release-due`.
//
// `queue release-due` runs the same release pass as sesmilter's scheduler
// (for cron, or when the scheduler is switched off); both may run at once.
#include "ctl/queue_cmd.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

#include "ctl/warmup_cmd.hpp"
#include "config/keys.hpp"
#include "services/api_json.hpp"
#include "services/release_scheduler.hpp"
#include "services/services.hpp"
#include "util/clock.hpp"
#include "warmup/timezone.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

int held(Context& c) {
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    std::optional<warmup::IdentityKey> only;
    if (auto id = c.opt("identity")) only = warmup::parse_identity(*id);
    auto list = w->engine->held(only);
    if (!list) return fail(c, list.error().what);
    int64_t now = clock::now();
    if (c.json) {
        c.out << services::api::held(*list, now).dump(2) << "\n";
        return 0;
    }
    if (list->empty()) {
        c.out << "no held mail\n";
        return 0;
    }
    c.out << "queue id          identity            rcpts  held at               release at\n";
    for (const auto& h : *list) {
        std::string ids;
        for (const auto& id : h.identities) ids += (ids.empty() ? "" : ",") + id.str();
        c.out << h.queue_id << "  " << ids << "  " << h.recipients << "  " << clock::format_rfc3339(h.held_at) << "  "
              << clock::format_rfc3339(h.release_at)
              << (h.state == warmup::HeldMail::State::releasing ? "  (releasing)" : "") << "\n";
    }
    c.out << list->size() << " message(s)\n";
    return 0;
}

int release_due(Context& c) {
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    auto mta = mta::make_adapter(w->mta_settings);
    // The records (with the webhook outbox) get the `released` events.
    std::shared_ptr<records::MessageStore> recs;
    if (c.cfg.get(config::key::records::enabled)) {
        auto h = services::open_message_store(c.cfg, w->env, w->shared);
        if (!h) return fail(c, h.error().what);
        recs = h->records;
    }
    auto r = services::release_pass(*w->engine, *mta, recs.get());
    if (!r) return fail(c, r.error().what);
    if (c.json) {
        c.out << json{{"released", r->released}, {"requeued", r->requeued}, {"deferred", r->deferred},
                      {"failed", r->failed},     {"not_held", r->not_held}, {"queue_ids", r->queue_ids}}
                     .dump(2)
              << "\n";
    } else {
        c.out << "released " << r->released << " (requeued " << r->requeued << "), deferred to a later day "
              << r->deferred << ", failed " << r->failed << ", no longer held " << r->not_held << "\n";
        for (const auto& q : r->queue_ids) c.out << "  " << q << "\n";
    }
    return r->failed ? 1 : 0;
}

}  // namespace

std::vector<Command> queue_commands() {
    return {
        {"queue held", "[--identity IDENTITY]",
         "mail held by the warm-up quota: queue id, identity, recipients, release time", held},
        {"queue release-due", "", "release held mail that is due and fits today's quota (what the scheduler does)",
         release_due},
    };
}

}  // namespace ses::ctl
