// milter_test.cpp -- the message core without an MTA: the Session's steps,
// the end-of-message pipeline and its verdicts (the on_error promise), the
// edit replay through a sink that can fail part-way, per-transaction reset,
// exact size accounting, and per-stage degradation when the store fails.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>

#include "dkim/keygen.hpp"
#include "mail/feedback.hpp"
#include "mail/address.hpp"
#include "mail/replies.hpp"
#include "milter/pipeline.hpp"
#include "milter/session.hpp"
#include "policy/policy.hpp"
#include "records/message_store.hpp"
#include "records/return_path.hpp"
#include "records/tracking.hpp"
#include "records/suppression.hpp"
#include "services/services.hpp"
#include "warmup/hooks.hpp"
#include "store/env.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "template/lmdb_store.hpp"
#include "util/strings.hpp"
#include "warmup/engine.hpp"

using namespace ses;
using milter::Session;
using milter::Step;
using milter::Verdict;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-milter-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// One Ed25519 key for the whole run (keygen is the slow part).
const std::string& key_pem() {
    static std::string pem = [] {
        auto k = dkim::generate_key("ed25519", 0);
        REQUIRE(k.ok());
        return k->pem;
    }();
    return pem;
}

// Records every MTA call; refuses call number `fail_at` (1-based, 0 never)
// and counts calls made after it.
struct Sink : milter::EditSink {
    int fail_at = 0;
    int calls = 0;
    int after_failure = 0;
    std::vector<std::string> log;
    bool call(std::string what) {
        ++calls;
        if (fail_at && calls > fail_at) ++after_failure;
        log.push_back(std::move(what));
        return calls != fail_at;
    }
    bool insert_header(int i, const std::string& n, const std::string& v) override {
        return call("ins " + std::to_string(i) + " " + n + ":" + v);
    }
    bool change_header(const std::string& n, int i, const std::string& v) override {
        return call("chg " + n + " " + std::to_string(i) + ":" + v);
    }
    bool delete_header(const std::string& n, int i) override { return call("del " + n + " " + std::to_string(i)); }
    bool quarantine(const std::string& r) override { return call("quarantine " + r); }
    bool change_from(const std::string& a, const std::string& args) override {
        return call("from " + a + (args.empty() ? "" : " " + args));
    }
    bool replace_body(std::string_view c) override { return call("body " + std::to_string(c.size())); }
    bool delete_rcpt(const std::string& r) override { return call("delrcpt " + r); }
};

struct Fixture {
    TempDir dir;
    std::shared_ptr<milter::Runtime> rt;

    // `domain_extra`: more keys of the [[domain]]; `after`: more tables.
    explicit Fixture(const std::string& milter_section = "", const std::string& domain_extra = "",
                     const std::string& after = "") {
        std::string key = (dir.path / "k.pem").string();
        { std::ofstream(key) << key_pem(); }
        ::chmod(key.c_str(), 0600);
        std::string toml = "[milter]\n" + milter_section + "\n[[domain]]\nname = \"example.com\"\n" +
                           "dkim = [ { selector = \"s1\", key = \"" + key + "\" } ]\n" + domain_extra + "\n" + after;
        auto cfg = config::load_string(toml, "t.toml");
        REQUIRE(cfg.ok());
        rt_return_path = milter::ReturnPathRules::from(*cfg);
        rt = std::make_shared<milter::Runtime>();
        auto ks = dkim::KeyStore::load(*cfg);
        REQUIRE(ks.ok());
        rt->keys = std::move(*ks);
        auto signer = dkim::Signer::create(*cfg);
        REQUIRE(signer.ok());
        rt->signer = std::move(*signer);
        rt->return_path = rt_return_path;
        rt->settings = milter::MessageSettings::from(*cfg);
        rt->cfg = std::move(*cfg);
    }
    milter::ReturnPathRules rt_return_path;

    Session session(milter::NoReply nr = {}) {
        std::shared_ptr<const milter::Runtime> r = rt;
        return Session(true, nr, [r] { return r; });
    }

    // A warm-up engine over a store whose map is full and cannot grow.
    void full_store_warmup() {
        warmup::Settings s;
        store::Options so;
        so.path = (dir.path / "store").string();
        so.map_size = 1 << 20;
        so.max_map_size = 1 << 20;
        auto env = store::Env::open(so);
        REQUIRE(env);
        auto p = policy::Policy::open(policy::Settings{}, warmup::hook_defs());
        REQUIRE(p);
        auto eng = warmup::Engine::open(s, *env, *p);
        REQUIRE(eng);
        store::Table t = (*env)->table(store::table::meta);
        int n = 0;
        for (size_t size : {size_t(64) << 10, size_t(4) << 10, size_t(256), size_t(16)}) {
            while ((*env)->update([&](store::Txn& txn) {
                txn.put(t, "fill" + std::to_string(n++), std::string(size, 'x'));
                return txn.status();
            }))
                ;
        }
        auto svc = std::make_shared<services::Services>();
        svc->warmup_settings = s;
        svc->store = *env;
        svc->warmup = std::move(*eng);
        rt->services = svc;
    }

    // Warm-up with a daily limit of one message and message records, over
    // one store.
    std::shared_ptr<records::MessageStore> warmup_and_records() {
        warmup::Settings s;
        store::Options so;
        so.path = (dir.path / "store1").string();
        auto env = store::Env::open(so);
        REQUIRE(env);
        auto p = policy::Policy::from_source(
            "ses.on(\"daily_limit\", function(identity) return 1 end)\n"
            "ses.on(\"should_upgrade\", function(identity, y) return false end)\n",
            "test.lua", policy::Settings{}, warmup::hook_defs());
        REQUIRE(p);
        auto eng = warmup::Engine::open(s, *env, *p);
        REQUIRE(eng);
        auto recs = records::MessageStore::open(*env, {});
        REQUIRE(recs);
        auto svc = std::make_shared<services::Services>();
        svc->warmup_settings = s;
        svc->store = *env;
        svc->warmup = std::move(*eng);
        svc->records = *recs;
        rt->services = svc;
        return *recs;
    }

    // The suppression list over the store the records use.
    std::shared_ptr<records::SuppressionList> suppression() {
        REQUIRE(rt->services);
        auto l = records::SuppressionList::open(rt->services->store, {});
        REQUIRE(l);
        rt->services->suppression = *l;
        return *l;
    }

    // Message records over a fresh store (`full`: a map that is full and
    // cannot grow, so every write fails).
    std::shared_ptr<records::MessageStore> records_store(bool full = false) {
        store::Options ss;
        ss.path = (dir.path / "records").string();
        if (full) ss.map_size = ss.max_map_size = 1 << 20;
        auto env = store::Env::open(ss);
        REQUIRE(env);
        if (full) {
            store::Table t = (*env)->table(store::table::meta);
            int n = 0;
            for (size_t size : {size_t(64) << 10, size_t(4) << 10, size_t(256), size_t(16)})
                while ((*env)->update([&](store::Txn& txn) {
                    txn.put(t, "fill" + std::to_string(n++), std::string(size, 'x'));
                    return txn.status();
                }))
                    ;
        }
        auto recs = records::MessageStore::open(*env, {});
        REQUIRE(recs);
        auto svc = std::make_shared<services::Services>();
        svc->store = *env;
        svc->records = *recs;
        rt->services = svc;
        return *recs;
    }
};

// A message through every step; returns the end-of-message step.
Step send(Session& s, milter::EditSink& sink, const std::string& from = "alice@example.com",
          const std::string& body = "hello\r\n") {
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.helo("client.test");
    s.mail("<" + from + ">", "", "QID1");
    REQUIRE(s.rcpt("<bob@remote.test>").kind == Step::Kind::next);
    s.header("From", " " + from);
    s.header("To", " bob@remote.test");
    s.header("Subject", " test");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body(body).kind == Step::Kind::next);
    return s.eom("QID1", sink);
}

bool signed_by_sink(const Sink& k) {
    for (auto& l : k.log)
        if (l.rfind("ins 0 DKIM-Signature:", 0) == 0) return true;
    return false;
}

}  // namespace

TEST_CASE("verdict_for: replies pass through, internal failures follow on_error", "[milter]") {
    Verdict v =
        milter::verdict_for(mail::error_for(mail::ReplyReason::malformed_message, "x"), config::OnError::accept);
    CHECK(v.kind == Verdict::Kind::reject);
    CHECK(v.reply.code == "554");
    CHECK_FALSE(v.apply_edits);
    CHECK_FALSE(v.internal);
    CHECK(milter::log_level(v) == log::Level::notice);

    v = milter::verdict_for(mail::error_for(mail::ReplyReason::dns_temporary, "x"), config::OnError::tempfail);
    CHECK(v.kind == Verdict::Kind::tempfail);
    CHECK(v.reply.xcode == "4.4.3");
    CHECK_FALSE(v.internal);
    CHECK(milter::log_level(v) == log::Level::notice);

    v = milter::verdict_for(internal_error("boom"), config::OnError::tempfail);
    CHECK(v.kind == Verdict::Kind::tempfail);
    CHECK(v.reply.str() == mail::make_reply(mail::ReplyReason::internal_failure).str());
    CHECK(v.internal);
    CHECK_FALSE(v.apply_edits);
    CHECK(milter::log_level(v) == log::Level::error);

    v = milter::verdict_for(internal_error("boom"), config::OnError::accept);
    CHECK(v.kind == Verdict::Kind::accept);
    CHECK(v.internal);
    CHECK_FALSE(v.apply_edits);  // passed exactly as received, never half-edited
    CHECK(milter::log_level(v) == log::Level::error);
}

TEST_CASE("end_of_message: header checks first, signing last", "[milter]") {
    Fixture f;
    mail::Message bad;
    bad.env.mail_from = "alice@example.com";
    bad.feed_header("From", "alice@example.com");
    bad.feed_header("From", "mallory@example.com");
    Verdict v = milter::end_of_message(bad, *f.rt);
    CHECK(v.kind == Verdict::Kind::reject);
    CHECK(v.reply.xcode == "5.6.0");
    CHECK(bad.edits().empty());  // no stage after the header check ran

    mail::Message m;
    m.env.mail_from = "alice@example.com";
    m.feed_header("From", "Alice <alice@Example.COM.>");
    m.feed_header("Subject", "hi");
    m.feed_body("hello\r\n");
    v = milter::end_of_message(m, *f.rt);
    CHECK(v.kind == Verdict::Kind::accept);
    REQUIRE_FALSE(m.edits().empty());
    CHECK(m.edits().back().name == "DKIM-Signature");
    CHECK(v.log.find("dkim=signed d=example.com s=s1") != std::string::npos);
}

TEST_CASE("session: a whole message is signed through the sink", "[milter]") {
    Fixture f;
    Session s = f.session();
    Sink k;
    Step st = send(s, k);
    CHECK(st.kind == Step::Kind::accept);
    CHECK(signed_by_sink(k));
}

TEST_CASE("apply_edits stops at the first refused edit", "[milter]") {
    mail::Message m;
    m.feed_header("Subject", "a");
    m.insert_header(0, "X-A", "1");
    m.change_header("Subject", 1, "b");
    m.delete_header("Subject", 1);
    m.quarantine("why");
    m.add_header("X-B", "2");
    m.replace_body("new body\r\n");
    Sink all;
    REQUIRE(milter::apply_edits(m, false, all).ok());
    const int n = all.calls;
    CHECK(n == 6);  // five header-side edits, then the body once
    CHECK(all.log.back() == "body 10");
    for (int k = 1; k <= n; ++k) {
        INFO("refused at call " << k);
        Sink s;
        s.fail_at = k;
        auto st = milter::apply_edits(m, false, s);
        CHECK_FALSE(st.ok());
        CHECK(st.error().reply.empty());  // internal: answered per on_error
        CHECK(s.calls == k);
        CHECK(s.after_failure == 0);
    }
}

TEST_CASE("a refused edit at end of message is answered per on_error", "[milter]") {
    for (const char* mode : {"tempfail", "accept"}) {
        INFO(mode);
        Fixture f(std::string("on_error = \"") + mode + "\"\n");
        Session s = f.session();
        Sink k;
        k.fail_at = 1;  // the DKIM-Signature
        Step st = send(s, k);
        CHECK(k.after_failure == 0);
        if (std::string(mode) == "tempfail") {
            CHECK(st.kind == Step::Kind::tempfail);
            CHECK(st.reply.code == "451");
            CHECK(st.reply.xcode == "4.3.0");
        } else {
            CHECK(st.kind == Step::Kind::accept);
        }
    }
}

TEST_CASE("an exception in a step is answered per on_error, kept for no-reply steps", "[milter]") {
    Fixture f;
    milter::NoReply nr;
    nr.header = true;
    Session s = f.session(nr);
    s.mail("<alice@example.com>", "", "Q");
    CHECK(s.internal_failure("header", "boom", true).kind == Step::Kind::next);
    CHECK(s.has_pending());
    Step st = s.rcpt("<b@remote.test>");
    CHECK(st.kind == Step::Kind::tempfail);
    CHECK(st.reply.code == "451");
    // End of message without MAIL FROM: an internal failure, not a crash.
    Session t = f.session();
    Sink k;
    CHECK(t.eom("", k).kind == Step::Kind::tempfail);
    CHECK(k.calls == 0);
}

TEST_CASE("a pending refusal does not leak into the next transaction", "[milter]") {
    Fixture f("max_message_size = \"1KB\"\n");
    milter::NoReply nr;
    nr.header = true;
    nr.eoh = true;
    for (bool abort : {true, false}) {
        INFO("abort=" << abort);
        Session s = f.session(nr);
        s.connect("localhost", "127.0.0.1", "");
        s.mail("<alice@example.com>", "", "Q1");
        REQUIRE(s.rcpt("<b@remote.test>").kind == Step::Kind::next);
        s.header("From", " alice@example.com");
        s.header("X-Big", " " + std::string(2000, 'x'));
        CHECK(s.eoh().kind == Step::Kind::next);  // no reply at EOH: kept
        CHECK(s.has_pending());
        if (abort) s.abort();
        // A new transaction on the same connection starts clean.
        s.mail("<alice@example.com>", "", "Q2");
        CHECK_FALSE(s.has_pending());
        CHECK(s.rcpt("<b@remote.test>").kind == Step::Kind::next);
        Sink k;
        s.header("From", " alice@example.com");
        s.eoh();
        s.body("small\r\n");
        CHECK(s.eom("Q2", k).kind == Step::Kind::accept);
    }
}

TEST_CASE("max_message_size counts the message as stored, exact to the byte", "[milter]") {
    // "From: alice@example.com\r\n" (25) + "\r\n" (2) + body.
    const std::string from = "From: alice@example.com\r\n";
    const uint64_t limit = 1000;  // "1KB" (KB = 1000, KiB = 1024)
    Fixture f("max_message_size = \"1KB\"\n");
    for (int extra : {0, 1}) {
        INFO("limit + " << extra);
        Session s = f.session();
        s.mail("<alice@example.com>", "", "Q");
        s.rcpt("<b@remote.test>");
        s.header("From", " alice@example.com");
        CHECK(s.eoh().kind == Step::Kind::next);
        std::string body(limit - from.size() - 2 - 2 + extra, 'b');
        body += "\r\n";
        Step b = s.body(body);
        Sink k;
        if (extra == 0) {
            CHECK(b.kind == Step::Kind::next);
            CHECK(s.eom("Q", k).kind == Step::Kind::accept);
        } else {
            CHECK(b.kind == Step::Kind::reject);
            CHECK(b.reply.str() == "552 5.3.4 message size exceeds fixed maximum message size of 1000 bytes");
        }
    }
}

TEST_CASE("a failing store skips warm-up but the message is still signed", "[milter]") {
    SECTION("on_error = accept: delivered signed, degraded") {
        Fixture f("on_error = \"accept\"\n");
        f.full_store_warmup();
        uint64_t before = milter::warmup_skipped_count();
        mail::Message m;
        m.env.mail_from = "alice@example.com";
        m.env.queue_id = "QID1";
        m.env.rcpts = {"bob@remote.test"};
        m.feed_header("From", "alice@example.com");
        m.feed_body("hi\r\n");
        Verdict v = milter::end_of_message(m, *f.rt);
        CHECK(v.kind == Verdict::Kind::accept);
        CHECK(v.apply_edits);
        CHECK(v.degraded);
        CHECK_FALSE(v.internal);
        CHECK(milter::log_level(v) == log::Level::warning);
        CHECK(v.log.find("warmup=skipped") != std::string::npos);
        CHECK(v.log.find("dkim=signed") != std::string::npos);
        CHECK(milter::warmup_skipped_count() == before + 1);

        Session s = f.session();
        Sink k;
        CHECK(send(s, k).kind == Step::Kind::accept);
        CHECK(signed_by_sink(k));
    }
    SECTION("on_error = tempfail: 451 4.3.0") {
        Fixture f("on_error = \"tempfail\"\n");
        f.full_store_warmup();
        Session s = f.session();
        Sink k;
        Step st = send(s, k);
        CHECK(st.kind == Step::Kind::tempfail);
        CHECK(st.reply.str() == mail::make_reply(mail::ReplyReason::internal_failure).str());
        CHECK(k.calls == 0);
    }
}

TEST_CASE("an accepted outbound message gets an id, a signed header and a record", "[milter][records]") {
    Fixture f;
    auto recs = f.records_store();
    Session s = f.session();
    Sink k;
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.helo("client.test");
    s.mail("<alice@example.com>", "", "QID7");
    REQUIRE(s.rcpt("<bob@gmail.com>").kind == Step::Kind::next);
    REQUIRE(s.rcpt("<carol@remote.test>").kind == Step::Kind::next);
    s.header("From", " Alice <alice@example.com>");
    s.header("Subject", " quarterly report");
    s.header("X-SES-Message-ID", " forged-by-client");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
    REQUIRE(s.eom("QID7", k).kind == Step::Kind::accept);

    // The header goes in before the signature that covers it; the client's
    // own one is removed.
    int id_at = -1, sig_at = -1, del_at = -1;
    std::string id;
    for (size_t i = 0; i < k.log.size(); ++i) {
        const std::string& l = k.log[i];
        if (l.rfind("del X-SES-Message-ID 1", 0) == 0) del_at = int(i);
        if (l.rfind("ins ", 0) == 0) {
            size_t name_at = l.find(' ', 4) + 1;
            if (l.compare(name_at, 17, "X-SES-Message-ID:") == 0) {
                id_at = int(i);
                id = std::string(str::trim(l.substr(name_at + 17)));
            }
        }
        if (l.rfind("ins 0 DKIM-Signature:", 0) == 0) sig_at = int(i);
    }
    REQUIRE(id_at >= 0);
    REQUIRE(sig_at >= 0);
    CHECK(del_at >= 0);
    CHECK(del_at < id_at);
    CHECK(id_at < sig_at);
    CHECK(str::lower(k.log[size_t(sig_at)]).find("x-ses-message-id") != std::string::npos);  // in h=
    REQUIRE(id.size() == 26);

    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    auto rec = recs->get(*txn, id);
    REQUIRE(rec);
    CHECK(rec->queue_id == "QID7");
    CHECK(rec->identity == "example.com");
    CHECK(rec->sender == "alice@example.com");
    CHECK(rec->from == "alice@example.com");
    CHECK(rec->subject == "quarterly report");
    REQUIRE(rec->recipients.size() == 2);
    CHECK(rec->recipients[0].address == "bob@gmail.com");
    CHECK(rec->recipients[0].state.send_status == records::send_status::accepted);
    CHECK(rec->recipients[1].state.deliver == records::Deliver::accepted);
    CHECK(recs->by_queue_id(*txn, "QID7", rec->request_time) == id);
    auto stats = recs->stats(*txn, recs->day_of(rec->request_time), recs->day_of(rec->request_time));
    uint64_t requests = 0;
    for (auto& row : stats) requests += row.counters[records::requests];
    CHECK(requests == 2);

    // The id is in the one log line.
    mail::Message m;
    m.env.mail_from = "alice@example.com";
    m.env.rcpts = {"dave@remote.test"};
    m.feed_header("From", "alice@example.com");
    m.feed_body("hi\r\n");
    Verdict v = milter::end_of_message(m, *f.rt);
    auto mid = m.value("X-SES-Message-ID");
    REQUIRE(mid);
    CHECK(v.log.find(" id=" + *mid + " ") != std::string::npos);
}

TEST_CASE("a failing records store follows on_error", "[milter][records]") {
    SECTION("on_error = accept: signed, no record, degraded") {
        Fixture f("on_error = \"accept\"\n");
        f.records_store(true);
        uint64_t before = milter::records_skipped_count();
        mail::Message m;
        m.env.mail_from = "alice@example.com";
        m.env.rcpts = {"bob@remote.test"};
        m.feed_header("From", "alice@example.com");
        m.feed_body("hi\r\n");
        Verdict v = milter::end_of_message(m, *f.rt);
        CHECK(v.kind == Verdict::Kind::accept);
        CHECK(v.apply_edits);
        REQUIRE(v.commit);  // prepared, written only after the MTA took the edits
        milter::commit_after_edits(v, config::OnError::accept);
        CHECK(v.kind == Verdict::Kind::accept);
        CHECK(v.degraded);
        CHECK(milter::log_level(v) == log::Level::warning);
        CHECK(v.log.find("record=skipped") != std::string::npos);
        CHECK(v.log.find("dkim=signed") != std::string::npos);
        CHECK(milter::records_skipped_count() == before + 1);
    }
    SECTION("on_error = tempfail: 451 4.3.0") {
        Fixture f("on_error = \"tempfail\"\n");
        f.records_store(true);
        Session s = f.session();
        Sink k;
        Step st = send(s, k);
        CHECK(st.kind == Step::Kind::tempfail);
        CHECK(st.reply.code == "451");
        CHECK(st.reply.xcode == "4.3.0");
    }
}

// Recipients submitted, over every day of the store's statistics.
uint64_t requests_counted(Fixture& f) {
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    uint64_t n = 0;
    for (auto& row : f.rt->services->records->stats(*txn, 0, INT32_MAX)) n += row.counters[records::requests];
    return n;
}

TEST_CASE("the record is written only after the MTA accepted the edits", "[milter][records]") {
    for (const char* mode : {"tempfail", "accept"}) {
        INFO(mode);
        Fixture f(std::string("on_error = \"") + mode + "\"\n");
        auto recs = f.records_store();
        for (int fail_at = 1; fail_at <= 2; ++fail_at) {
            INFO("refused at call " << fail_at);
            Session s = f.session();
            Sink k;
            k.fail_at = fail_at;  // the X-SES-Message-ID, then the signature
            Step st = send(s, k);
            CHECK(st.kind == (std::string(mode) == "tempfail" ? Step::Kind::tempfail : Step::Kind::accept));
            auto txn = f.rt->services->store->begin_read();
            REQUIRE(txn);
            CHECK_FALSE(recs->by_queue_id(*txn, "QID1", clock::now()));
            CHECK(requests_counted(f) == 0);
        }
        // The client's retry, accepted: one record.
        Session s = f.session();
        Sink k;
        REQUIRE(send(s, k).kind == Step::Kind::accept);
        auto txn = f.rt->services->store->begin_read();
        REQUIRE(txn);
        CHECK(recs->by_queue_id(*txn, "QID1", clock::now()));
        CHECK(requests_counted(f) == 1);
    }
}

TEST_CASE("mail held by warm-up is recorded with SendStatus 1010", "[milter][records]") {
    Fixture f;
    auto recs = f.warmup_and_records();
    auto send_one = [&](const std::string& qid) {
        mail::Message m;
        m.env.mail_from = "alice@example.com";
        m.env.queue_id = qid;
        m.env.rcpts = {"bob@remote.test"};
        m.feed_header("From", "alice@example.com");
        m.feed_body("hi\r\n");
        Verdict v = milter::end_of_message(m, *f.rt);
        CHECK(v.kind == Verdict::Kind::accept);
        milter::commit_after_edits(v, config::OnError::tempfail);
        auto id = m.value("X-SES-Message-ID");
        REQUIRE(id);
        auto txn = f.rt->services->store->begin_read();
        REQUIRE(txn);
        auto rec = recs->get(*txn, *id);
        REQUIRE(rec);
        REQUIRE(rec->recipients.size() == 1);
        return std::make_pair(v.log, rec->recipients[0].state.send_status);
    };
    auto [log1, st1] = send_one("4ABCD1");
    CHECK(log1.find("warmup=ok") != std::string::npos);
    CHECK(st1 == records::send_status::accepted);
    auto [log2, st2] = send_one("4ABCD2");
    CHECK(log2.find("warmup=held") != std::string::npos);
    CHECK(st2 == records::send_status::daily_limit);
    // The held message has a `held` event after its `processed` one; the
    // other has none.
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    std::vector<std::string> types;
    for (auto& e : recs->events(*txn, 0, 100)) types.emplace_back(records::event_name(e.type));
    CHECK(types == std::vector<std::string>{"processed", "processed", "held"});
}

TEST_CASE("a rendering failure is a rendering_failure event per recipient, without a record",
          "[milter][records][webhook]") {
    mail::init();
    Fixture f;
    auto recs = f.records_store();
    auto templates = tmpl::LmdbTemplateStore::open(f.rt->services->store);
    REQUIRE(templates);
    f.rt->services->templates = std::move(*templates);
    mail::Message m;
    m.env.mail_from = "alice@example.com";
    m.env.queue_id = "4TPL1";
    m.env.rcpts = {"bob@remote.test", "carol@remote.test"};
    m.feed_header("From", "alice@example.com");
    m.feed_header("X-SES-Template", "no-such-template");
    m.feed_header("X-SES-Template-Data", "{}");
    m.feed_body("hi\r\n");
    Verdict v = milter::end_of_message(m, *f.rt);
    CHECK(v.kind == Verdict::Kind::reject);
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    std::vector<std::string> to;
    for (auto& e : recs->events(*txn, 0, 100)) {
        CHECK(e.type == records::EventType::rendering_failure);
        CHECK(e.message_id.empty());
        CHECK(e.text.find("no-such-template") != std::string::npos);
        to.push_back(e.recipient);
    }
    CHECK(to == std::vector<std::string>{"bob@remote.test", "carol@remote.test"});
}

namespace {

const std::string kReturnPathDomain = "return_path_domain = \"bounce.example.com\"\n";
const std::string kReturnPathKeys = "[return_path]\nkeys = [\"2:0123456789abcdef-new\", \"1:0123456789abcdef-old\"]\n";

std::string read_feedback(const std::string& name) {
    auto p = std::filesystem::path(__FILE__).parent_path() / ".." / "data" / "feedback" / name;
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

// Feeds a whole message (header fields, blank line, body) as the MTA would.
void feed_raw(Session& s, const std::string& raw) {
    std::string text = replace_all(raw, "\r\n", "\n");
    size_t end = text.find("\n\n");
    REQUIRE(end != std::string::npos);
    std::string name, value;
    auto flush = [&] {
        if (!name.empty()) s.header(name, value);
        name.clear();
    };
    for (auto& line : str::split(text.substr(0, end), '\n')) {
        std::string l(line);
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
            value += "\r\n" + l;
            continue;
        }
        flush();
        size_t colon = l.find(':');
        REQUIRE(colon != std::string::npos);
        name = l.substr(0, colon);
        value = l.substr(colon + 1);
    }
    flush();
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body(replace_all(text.substr(end + 2), "\n", "\r\n")).kind == Step::Kind::next);
}

// Sends one outbound message to `rcpts`; returns its id and envelope sender.
std::pair<std::string, std::string> send_tagged(Fixture& f, const std::vector<std::string>& rcpts) {
    Session s = f.session();
    Sink k;
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<news@example.com>", "", "QIDT");
    for (auto& r : rcpts) REQUIRE(s.rcpt("<" + r + ">").kind == Step::Kind::next);
    s.header("From", " News <news@example.com>");
    s.header("Subject", " November news");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
    REQUIRE(s.eom("QIDT", k).kind == Step::Kind::accept);
    std::string id, from;
    for (auto& l : k.log) {
        if (l.rfind("ins ", 0) == 0 && l.compare(l.find(' ', 4) + 1, 17, "X-SES-Message-ID:") == 0)
            id = std::string(str::trim(l.substr(l.find(' ', 4) + 18)));
        if (l.rfind("from <", 0) == 0) from = l.substr(6, l.find('>') - 6);
    }
    // The return path carries ENVID=<message id> (RFC 3461) as its ESMTP argument.
    if (!from.empty()) CHECK(std::find(k.log.begin(), k.log.end(), "from <" + from + "> ENVID=" + id) != k.log.end());
    return {id, from};
}

records::RecipientState state_of(Fixture& f, const std::string& id, const std::string& rcpt) {
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    auto rec = f.rt->services->records->get(*txn, id);
    REQUIRE(rec);
    auto* r = rec->recipient(rcpt);
    REQUIRE(r);
    return r->state;
}

// Feedback `raw` sent to `to` with MAIL FROM:<sender>.
Step send_feedback(Fixture& f, const std::string& to, const std::string& raw, const std::string& sender = "") {
    Session s = f.session();
    Sink k;
    s.connect("mx.example.net", "192.0.2.30", "smtpd");
    s.mail("<" + sender + ">", "", "QIDF");
    Step r = s.rcpt("<" + to + ">");
    if (r.kind != Step::Kind::next) return r;
    feed_raw(s, raw);
    Step e = s.eom("QIDF", k);
    CHECK(k.log.empty());  // nothing is changed in a message that is thrown away
    return e;
}

}  // namespace

TEST_CASE("return path: the envelope sender becomes a tag naming the record", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"nobody@example.net"});
    REQUIRE(id.size() == 26);
    REQUIRE(from.size() > 19);
    CHECK(from.substr(from.size() - 19) == "@bounce.example.com");
    auto tag = records::decode_tag(from.substr(0, from.find('@')), f.rt->return_path.keys);
    REQUIRE(tag);
    CHECK(tag->message_id == id);
    CHECK(tag->recipient == 0);
    // Tagged with the first key listed (the current one): it no longer
    // decodes once that key is gone.
    records::TagKeys old_only;
    old_only.secret[1] = "0123456789abcdef-old";
    CHECK_FALSE(records::decode_tag(from.substr(0, from.find('@')), old_only));
    // The record keeps the sender as submitted.
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    CHECK(f.rt->services->records->get(*txn, id)->sender == "news@example.com");

    // Two recipients: no recipient index in the tag.
    auto [id2, from2] = send_tagged(f, {"a@example.net", "b@example.net"});
    auto tag2 = records::decode_tag(from2.substr(0, from2.find('@')), f.rt->return_path.keys);
    REQUIRE(tag2);
    CHECK(tag2->message_id == id2);
    CHECK_FALSE(tag2->recipient);
}

TEST_CASE("return path: a domain without return_path_domain keeps its sender", "[milter][return_path]") {
    mail::init();
    Fixture f("", "", kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"nobody@example.net"});
    CHECK(id.size() == 26);
    CHECK(from.empty());  // no change_from edit
}

TEST_CASE("return path: configuration", "[milter][return_path][config]") {
    auto load = [](const std::string& extra, const std::string& after) {
        return config::load_string("[[domain]]\nname = \"example.com\"\n" + extra + "\n" + after, "t.toml");
    };
    CHECK(load(kReturnPathDomain, kReturnPathKeys).ok());
    auto no_key = load(kReturnPathDomain, "");
    REQUIRE_FALSE(no_key.ok());
    CHECK(no_key.error().what.find("return_path_domain") != std::string::npos);
    CHECK_FALSE(load(kReturnPathDomain, "[return_path]\nkeys = [\"1:short\"]\n").ok());
    CHECK_FALSE(load(kReturnPathDomain, "[return_path]\nkeys = [\"16:0123456789abcdef\"]\n").ok());
    CHECK_FALSE(load(kReturnPathDomain, "[return_path]\nkeys = [\"0123456789abcdef\"]\n").ok());
    CHECK_FALSE(
        load(kReturnPathDomain, "[return_path]\nkeys = [\"1:0123456789abcdef\", \"1:0123456789abcdefg\"]\n").ok());
    CHECK_FALSE(load("return_path_domain = \"bad domain\"\n", kReturnPathKeys).ok());
    auto cfg = load(kReturnPathDomain, kReturnPathKeys);
    REQUIRE(cfg.ok());
    CHECK(cfg->domains[0].return_path_domain == "bounce.example.com");
    REQUIRE(cfg->return_path_keys.size() == 2);
    CHECK(cfg->return_path_keys[0].id == 2);
}

TEST_CASE("return path: a DSN bounces the tagged recipient and is discarded", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"nobody@example.net"});
    std::string dsn =
        replace_all(read_feedback("postfix-failed.eml"), "b1x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    dsn = replace_all(dsn, "01jb5x8k2m9q3c4d5e6f7g8h9j", id);
    CHECK(send_feedback(f, from, dsn).kind == Step::Kind::discard);
    auto st = state_of(f, id, "nobody@example.net");
    CHECK(st.deliver == records::Deliver::bounced);
    CHECK(st.bounce == records::BounceType::hard);
    CHECK(st.deliver_message.find("User unknown") != std::string::npos);
    // The same DSN again changes nothing (and is still consumed).
    CHECK(send_feedback(f, from, dsn).kind == Step::Kind::discard);
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    auto rec = f.rt->services->records->get(*txn, id);
    auto stats = f.rt->services->records->stats(*txn, f.rt->services->records->day_of(rec->request_time),
                                                f.rt->services->records->day_of(rec->request_time));
    uint64_t bounces = 0;
    for (auto& row : stats) bounces += row.counters[records::hard_bounces];
    CHECK(bounces == 1);
}

TEST_CASE("return path: a DSN for a two-recipient message names its recipient", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"alice@example.net", "nobody@example.net"});
    std::string dsn =
        replace_all(read_feedback("postfix-failed.eml"), "b1x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    CHECK(send_feedback(f, from, dsn).kind == Step::Kind::discard);
    CHECK(state_of(f, id, "nobody@example.net").deliver == records::Deliver::bounced);
    CHECK(state_of(f, id, "alice@example.net").deliver == records::Deliver::accepted);
    // A delayed DSN: still trying.
    auto [id2, from2] = send_tagged(f, {"slow@example.net"});
    std::string delayed = read_feedback("delayed.eml");
    CHECK(send_feedback(f, from2, delayed, "").kind == Step::Kind::discard);
    CHECK(state_of(f, id2, "slow@example.net").deliver == records::Deliver::delayed);
}

TEST_CASE("return path: a non-standard bounce marks only the recipient its text names", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"alice@example.net", "bob@example.net", "carol@example.net"});
    std::string bounce =
        replace_all(read_feedback("qmail-multi.eml"), "b3x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    CHECK(send_feedback(f, from, bounce).kind == Step::Kind::discard);
    CHECK(state_of(f, id, "carol@example.net").deliver == records::Deliver::bounced);
    CHECK(state_of(f, id, "carol@example.net").bounce == records::BounceType::hard);
    CHECK(state_of(f, id, "alice@example.net").deliver == records::Deliver::accepted);
    CHECK(state_of(f, id, "bob@example.net").deliver == records::Deliver::accepted);

    auto [id2, from2] = send_tagged(f, {"ann@old.example.org", "dave@old.example.org", "erin@old.example.org"});
    bounce = replace_all(read_feedback("exim-multi.eml"), "b4x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from2);
    CHECK(send_feedback(f, from2, bounce).kind == Step::Kind::discard);
    CHECK(state_of(f, id2, "dave@old.example.org").deliver == records::Deliver::bounced);
    CHECK(state_of(f, id2, "ann@old.example.org").deliver == records::Deliver::accepted);
    CHECK(state_of(f, id2, "erin@old.example.org").deliver == records::Deliver::accepted);
}

TEST_CASE("return path: an ARF complaint marks the recipient", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"user@mail.example.net"});
    std::string arf =
        replace_all(read_feedback("arf-abuse.eml"), "b5x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    CHECK(send_feedback(f, from, arf, "abusedesk@mail.example.net").kind == Step::Kind::discard);
    auto st = state_of(f, id, "user@mail.example.net");
    CHECK(st.complained);
    CHECK(st.deliver == records::Deliver::accepted);
    // An out-of-office reply counts nothing, and is consumed too.
    auto [id2, from2] = send_tagged(f, {"away@example.net"});
    CHECK(send_feedback(f, from2, read_feedback("out-of-office.eml"), "away@example.net").kind == Step::Kind::discard);
    auto st2 = state_of(f, id2, "away@example.net");
    CHECK(st2.deliver == records::Deliver::accepted);
    CHECK_FALSE(st2.complained);
    // ... and is an auto_reply event of its recipient (docs/events.md).
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    std::vector<records::Event> replies;
    for (auto& e : f.rt->services->records->events(*txn, 0, 1000))
        if (e.type == records::EventType::auto_reply) replies.push_back(e);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].message_id == id2);
    CHECK(replies[0].recipient == "away@example.net");
}

TEST_CASE("return path: forged tags are refused, mixed recipients deferred", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    auto [id, from] = send_tagged(f, {"nobody@example.net"});
    std::string forged = from;
    forged[5] = forged[5] == 'a' ? 'b' : 'a';
    Step r = send_feedback(f, forged, read_feedback("postfix-failed.eml"));
    CHECK(r.kind == Step::Kind::reject);
    CHECK(r.reply.code == "550");
    CHECK(r.reply.xcode == "5.1.1");
    CHECK(send_feedback(f, "postmaster@bounce.example.com", "Subject: hi\n\nhi\n").kind == Step::Kind::reject);
    CHECK(state_of(f, id, "nobody@example.net").deliver == records::Deliver::accepted);

    Session s = f.session();
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<news@example.com>", "", "QIDM");
    REQUIRE(s.rcpt("<someone@example.net>").kind == Step::Kind::next);
    Step m = s.rcpt("<" + from + ">");
    CHECK(m.kind == Step::Kind::tempfail);
    CHECK(m.reply.xcode == "4.5.3");
}

TEST_CASE("CFBL: headers added and signed, complaints to fbl@ attributed by id", "[milter][return_path][cfbl]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.records_store();
    // The headers, in the default sign_headers.
    const auto& sh = f.rt->cfg.dkim.sign_headers;
    CHECK(std::find(sh.begin(), sh.end(), "CFBL-Address") != sh.end());
    CHECK(std::find(sh.begin(), sh.end(), "CFBL-Feedback-ID") != sh.end());
    {
        Session s = f.session();
        Sink k;
        s.connect("localhost", "127.0.0.1", "smtpd");
        s.mail("<news@example.com>", "", "QIDC");
        REQUIRE(s.rcpt("<user@mail.example.net>").kind == Step::Kind::next);
        s.header("From", " News <news@example.com>");
        s.header("CFBL-Address", " fbl@elsewhere.example");  // a client's own: replaced
        REQUIRE(s.eoh().kind == Step::Kind::next);
        REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
        REQUIRE(s.eom("QIDC", k).kind == Step::Kind::accept);
        std::string all;
        for (auto& l : k.log) all += l + "\n";
        CHECK(all.find("CFBL-Address: fbl@bounce.example.com") != std::string::npos);
        CHECK(all.find("elsewhere.example") == std::string::npos);
        auto id_at = all.find("X-SES-Message-ID: ");
        REQUIRE(id_at != std::string::npos);
        std::string id = all.substr(id_at + 18, 26);
        CHECK(all.find("CFBL-Feedback-ID: " + id) != std::string::npos);
        // Signed: the headers are listed in the signature's h= tag.
        auto sig = all.find("DKIM-Signature:");
        REQUIRE(sig != std::string::npos);
        std::string h = str::lower(all.substr(sig));
        CHECK(h.find("cfbl-address") != std::string::npos);
        CHECK(h.find("cfbl-feedback-id") != std::string::npos);
    }
    // A domain without a return path: no CFBL headers.
    {
        Fixture g("", "", kReturnPathKeys);
        g.records_store();
        Session s = g.session();
        Sink k;
        s.connect("localhost", "127.0.0.1", "smtpd");
        s.mail("<news@example.com>", "", "QIDD");
        REQUIRE(s.rcpt("<user@mail.example.net>").kind == Step::Kind::next);
        s.header("From", " News <news@example.com>");
        REQUIRE(s.eoh().kind == Step::Kind::next);
        REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
        REQUIRE(s.eom("QIDD", k).kind == Step::Kind::accept);
        for (auto& l : k.log) CHECK(l.find("CFBL-") == std::string::npos);
    }

    // ARF to fbl@: the original's X-SES-Message-ID names the record.
    auto [id, from] = send_tagged(f, {"user@mail.example.net"});
    std::string arf = replace_all(read_feedback("arf-abuse.eml"), "01jb5x8k2m9q3c4d5e6f7g8h9n", id);
    CHECK(send_feedback(f, "fbl@bounce.example.com", arf, "abusedesk@mail.example.net").kind == Step::Kind::discard);
    CHECK(state_of(f, id, "user@mail.example.net").complained);

    // Only CFBL-Feedback-ID in the original (a redacting provider drops the rest).
    auto [id2, from2] = send_tagged(f, {"user@mail.example.net"});
    std::string arf2 = replace_all(read_feedback("arf-abuse.eml"), "X-SES-Message-ID: 01jb5x8k2m9q3c4d5e6f7g8h9n",
                                   "CFBL-Feedback-ID: " + id2);
    CHECK(send_feedback(f, "FBL@Bounce.Example.com", arf2, "abusedesk@mail.example.net").kind == Step::Kind::discard);
    CHECK(state_of(f, id2, "user@mail.example.net").complained);

    // A DSN to fbl@ is consumed but counts nothing.
    auto [id3, from3] = send_tagged(f, {"nobody@example.net"});
    std::string dsn = replace_all(read_feedback("postfix-failed.eml"), "01jb5x8k2m9q3c4d5e6f7g8h9j", id3);
    CHECK(send_feedback(f, "fbl@bounce.example.com", dsn).kind == Step::Kind::discard);
    CHECK(state_of(f, id3, "nobody@example.net").deliver == records::Deliver::accepted);

    // Other local parts without a valid tag are still refused.
    CHECK(send_feedback(f, "fbl2@bounce.example.com", arf).kind == Step::Kind::reject);
}

TEST_CASE("one_recipient_per_message: each RCPT after the first is deferred", "[milter][rcpt]") {
    mail::init();
    auto cfg = config::load_string(
        "[[domain]]\nname = \"example.com\"\none_recipient_per_message = true\n"
        "[[domain]]\nname = \"example.org\"\n",
        "t.toml");
    REQUIRE(cfg.ok());
    CHECK(cfg->domains[0].one_recipient_per_message);
    CHECK_FALSE(cfg->domains[1].one_recipient_per_message);

    Fixture f("", "one_recipient_per_message = true\n");
    Session s = f.session();
    Sink k;
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<news@example.com>", "", "QID1");
    REQUIRE(s.rcpt("<a@example.net>").kind == Step::Kind::next);
    for (const char* r : {"<b@example.net>", "<c@example.net>"}) {
        Step m = s.rcpt(r);
        CHECK(m.kind == Step::Kind::tempfail);
        CHECK(m.reply.code == "452");
        CHECK(m.reply.xcode == "4.5.3");
        CHECK(m.reply.text.find("one recipient per message") != std::string::npos);
    }
    s.header("From", " News <news@example.com>");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
    CHECK(s.eom("QID1", k).kind == Step::Kind::accept);

    // The next transaction starts again at one.
    s.mail("<news@example.com>", "", "QID2");
    CHECK(s.rcpt("<b@example.net>").kind == Step::Kind::next);
    CHECK(s.rcpt("<c@example.net>").kind == Step::Kind::tempfail);

    // Another sender domain (not configured, or without the key) is not limited.
    s.mail("<someone@example.org>", "", "QID3");
    CHECK(s.rcpt("<a@example.net>").kind == Step::Kind::next);
    CHECK(s.rcpt("<b@example.net>").kind == Step::Kind::next);
}

TEST_CASE("one_recipient_per_message: off by default", "[milter][rcpt]") {
    Fixture f;
    Session s = f.session();
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<news@example.com>", "", "QID1");
    CHECK(s.rcpt("<a@example.net>").kind == Step::Kind::next);
    CHECK(s.rcpt("<b@example.net>").kind == Step::Kind::next);
}

TEST_CASE("return path: a DSN bounce and a complaint reach the warm-up counters", "[milter][return_path]") {
    mail::init();
    Fixture f("", kReturnPathDomain, kReturnPathKeys);
    f.warmup_and_records();
    auto engine = f.rt->services->warmup;
    auto [id, from] = send_tagged(f, {"nobody@example.net"});
    REQUIRE_FALSE(from.empty());
    std::string dsn =
        replace_all(read_feedback("postfix-failed.eml"), "b1x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    CHECK(send_feedback(f, from, dsn).kind == Step::Kind::discard);
    CHECK(send_feedback(f, from, dsn).kind == Step::Kind::discard);  // counted once
    std::string arf =
        replace_all(read_feedback("arf-abuse.eml"), "b5x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", from);
    CHECK(send_feedback(f, from, arf, "abusedesk@mail.example.net").kind == Step::Kind::discard);
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    auto rec = f.rt->services->records->get(*txn, id);
    REQUIRE(rec);
    auto c =
        engine->counters(warmup::IdentityKey::domain("example.com"), engine->time_zone().day_of(rec->request_time));
    REQUIRE(c);
    CHECK(c->bounced == 1);
    CHECK(c->complained == 1);
}

namespace {

// One outbound message to `rcpts` through a Session; the step, the sink's
// calls and the record's id (from the log of the calls, or the store).
struct Sent {
    Step step;
    Sink sink;
};

Sent send_to(Fixture& f, const std::vector<std::string>& rcpts, const std::string& qid = "QIDS") {
    Sent out;
    Session s = f.session();
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<alice@example.com>", "", qid);
    for (auto& r : rcpts) REQUIRE(s.rcpt("<" + r + ">").kind == Step::Kind::next);
    s.header("From", " alice@example.com");
    s.header("Subject", " suppression test");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
    out.step = s.eom(qid, out.sink);
    return out;
}

// The newest record of a queue id.
records::MessageRecord record_of(Fixture& f, const std::string& qid) {
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    auto id = f.rt->services->records->by_queue_id(*txn, qid, clock::now());
    REQUIRE(id);
    auto rec = f.rt->services->records->get(*txn, *id);
    REQUIRE(rec);
    return *rec;
}

records::Counters totals(Fixture& f, bool simulated) {
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    records::Counters c{};
    auto& rs = *f.rt->services->records;
    int32_t today = rs.day_of(clock::now());
    for (auto& row : rs.stats(*txn, today - 1, today + 1))
        if (row.simulated == simulated)
            for (size_t i = 0; i < records::kCounters; ++i) c[i] += row.counters[i];
    return c;
}

std::vector<records::Event> events_of(Fixture& f, const std::string& id) {
    auto txn = f.rt->services->store->begin_read();
    REQUIRE(txn);
    std::vector<records::Event> out;
    for (auto& e : f.rt->services->records->events(*txn, 0, 10000))
        if (e.message_id == id) out.push_back(e);
    return out;
}

void suppress(Fixture& f, const std::string& address, const std::string& scope = "") {
    records::SuppressionEntry e;
    e.address = address;
    e.scope = scope;
    e.reason = records::SuppressionReason::hard_bounce;
    e.time = clock::now();
    REQUIRE(f.rt->services->store->update([&](store::Txn& txn) { return f.rt->services->suppression->put(txn, e); }));
}

}  // namespace

TEST_CASE("suppression stage: a listed recipient is deleted, recorded as dropped", "[milter][suppression]") {
    Fixture f;
    f.records_store();
    f.suppression();
    suppress(f, "Bounced@Remote.test");
    suppress(f, "other-identity@remote.test", "other.example");  // another identity's entry

    Sent r = send_to(f, {"bounced@remote.test", "ok@remote.test", "other-identity@remote.test"});
    REQUIRE(r.step.kind == Step::Kind::accept);
    // smfi_delrcpt with the recipient exactly as given at RCPT, and still signed.
    CHECK(std::count(r.sink.log.begin(), r.sink.log.end(), "delrcpt <bounced@remote.test>") == 1);
    CHECK(std::none_of(r.sink.log.begin(), r.sink.log.end(),
                       [](const std::string& l) { return l.find("delrcpt <ok@") != std::string::npos; }));
    CHECK(std::none_of(r.sink.log.begin(), r.sink.log.end(),
                       [](const std::string& l) { return l.find("delrcpt <other-identity@") != std::string::npos; }));
    CHECK(signed_by_sink(r.sink));

    auto rec = record_of(f, "QIDS");
    REQUIRE(rec.recipients.size() == 3);
    auto* d = rec.recipient("bounced@remote.test");
    REQUIRE(d);
    CHECK(d->state.deliver == records::Deliver::dropped);
    CHECK(d->state.send_status == records::send_status::suppressed);
    CHECK(d->state.deliver_message.find("hard_bounce") != std::string::npos);
    CHECK(rec.recipient("ok@remote.test")->state.deliver == records::Deliver::accepted);
    CHECK(rec.recipient("ok@remote.test")->state.send_status == records::send_status::accepted);
    bool dropped_event = false;
    for (auto& e : events_of(f, rec.id))
        if (e.recipient == "bounced@remote.test") dropped_event = e.type == records::EventType::dropped;
    CHECK(dropped_event);
    auto t = totals(f, false);
    CHECK(t[records::requests] == 3);
    CHECK(t[records::accepted] == 2);
    CHECK(t[records::dropped] == 1);
}

TEST_CASE("suppression stage: a message left without recipients is discarded", "[milter][suppression]") {
    Fixture f;
    f.records_store();
    f.suppression();
    suppress(f, "gone@remote.test");
    Sent r = send_to(f, {"gone@remote.test"});
    CHECK(r.step.kind == Step::Kind::discard);
    CHECK(r.sink.log.empty());  // nothing replayed: the MTA throws the message away
    auto rec = record_of(f, "QIDS");
    REQUIRE(rec.recipients.size() == 1);
    CHECK(rec.recipients[0].state.deliver == records::Deliver::dropped);
    CHECK(rec.recipients[0].state.send_status == records::send_status::suppressed);

    // Off the list: the next one goes.
    REQUIRE(f.rt->services->store->update([&](store::Txn& txn) {
        f.rt->services->suppression->remove(txn, "gone@remote.test", std::nullopt);
        return txn.status();
    }));
    Sent again = send_to(f, {"gone@remote.test"}, "QIDS2");
    CHECK(again.step.kind == Step::Kind::accept);
    CHECK(record_of(f, "QIDS2").recipients[0].state.deliver == records::Deliver::accepted);
}

TEST_CASE("suppression stage: without a suppression list nothing is removed", "[milter][suppression]") {
    Fixture f;
    f.records_store();
    Sent r = send_to(f, {"gone@remote.test"});
    CHECK(r.step.kind == Step::Kind::accept);
    CHECK(std::none_of(r.sink.log.begin(), r.sink.log.end(),
                       [](const std::string& l) { return l.rfind("delrcpt", 0) == 0; }));
}

TEST_CASE("simulator stage: scenarios are recorded, simulated, and never leave", "[milter][simulator]") {
    Fixture f;
    auto recs = f.warmup_and_records();  // a daily limit of one message
    auto list = records::SuppressionList::open(f.rt->services->store, {});
    REQUIRE(list);
    f.rt->services->suppression = *list;
    const std::string dom = "@simulator.sesmilter.invalid";
    std::vector<std::string> rcpts = {"success" + dom,   "bounce+t1" + dom,   "softbounce" + dom, "ooto" + dom,
                                      "complaint" + dom, "unsubscribe" + dom, "suppressed" + dom};
    Sent r = send_to(f, rcpts, "QIDSIM");
    CHECK(r.step.kind == Step::Kind::discard);
    CHECK(r.sink.log.empty());

    auto rec = record_of(f, "QIDSIM");
    REQUIRE(rec.recipients.size() == rcpts.size());
    for (auto& rr : rec.recipients) CHECK(rr.state.simulated);
    auto st = [&](const std::string& local) { return rec.recipient(local + dom)->state; };
    CHECK(st("success").deliver == records::Deliver::delivered);
    CHECK(st("bounce+t1").deliver == records::Deliver::bounced);
    CHECK(st("bounce+t1").bounce == records::BounceType::hard);
    CHECK(st("bounce+t1").deliver_message.find("5.1.1") != std::string::npos);
    CHECK(st("softbounce").deliver == records::Deliver::delivered);
    CHECK(st("softbounce").deferred_once);
    CHECK(st("ooto").deliver == records::Deliver::delivered);
    CHECK(st("complaint").complained);
    CHECK(st("unsubscribe").unsubscribed);
    CHECK(st("suppressed").deliver == records::Deliver::dropped);
    CHECK(st("suppressed").send_status == records::send_status::suppressed);
    CHECK(st("success").send_status == records::send_status::accepted);

    std::multiset<std::string> types;
    for (auto& e : events_of(f, rec.id)) {
        CHECK(e.simulated);
        types.insert(std::string(records::event_name(e.type)));
    }
    CHECK(types.count("processed") == 6);
    CHECK(types.count("dropped") == 1);
    CHECK(types.count("delivered") == 5);
    CHECK(types.count("deferred") == 1);
    CHECK(types.count("bounce") == 1);
    CHECK(types.count("auto_reply") == 1);
    CHECK(types.count("spamreport") == 1);
    CHECK(types.count("unsubscribe") == 1);

    // Statistics: the simulated dimension only.
    auto real = totals(f, false);
    for (auto v : real) CHECK(v == 0);
    auto sim = totals(f, true);
    CHECK(sim[records::requests] == 7);
    CHECK(sim[records::delivered] == 5);
    CHECK(sim[records::hard_bounces] == 1);
    CHECK(sim[records::complaints] == 1);
    CHECK(sim[records::unsubscribes] == 1);
    CHECK(sim[records::dropped] == 1);

    // Nothing on the suppression list, and no warm-up quota used: the one
    // message a day still goes.
    {
        auto txn = f.rt->services->store->begin_read();
        REQUIRE(txn);
        CHECK((*list)->list(*txn).empty());
    }
    Sent real_one = send_to(f, {"bob@remote.test"}, "QIDREAL");
    CHECK(real_one.step.kind == Step::Kind::accept);
    CHECK(std::none_of(real_one.sink.log.begin(), real_one.sink.log.end(),
                       [](const std::string& l) { return l.rfind("quarantine", 0) == 0; }));
}

TEST_CASE("simulator stage: mixed with a real recipient, only the simulator's are deleted", "[milter][simulator]") {
    Fixture f;
    f.records_store();
    Sent r = send_to(f, {"real@remote.test", "success@simulator.sesmilter.invalid"});
    REQUIRE(r.step.kind == Step::Kind::accept);
    CHECK(std::count(r.sink.log.begin(), r.sink.log.end(), "delrcpt <success@simulator.sesmilter.invalid>") == 1);
    auto rec = record_of(f, "QIDS");
    REQUIRE(rec.recipients.size() == 2);
    CHECK_FALSE(rec.recipient("real@remote.test")->state.simulated);
    CHECK(rec.recipient("success@simulator.sesmilter.invalid")->state.simulated);
    CHECK(totals(f, false)[records::requests] == 1);
    CHECK(totals(f, true)[records::delivered] == 1);
}

TEST_CASE("simulator stage: off, its domain is ordinary mail", "[milter][simulator]") {
    Fixture f("", "", "[simulator]\nenabled = false\n");
    f.records_store();
    Sent r = send_to(f, {"success@simulator.sesmilter.invalid"});
    CHECK(r.step.kind == Step::Kind::accept);
    CHECK(std::none_of(r.sink.log.begin(), r.sink.log.end(),
                       [](const std::string& l) { return l.rfind("delrcpt", 0) == 0; }));
}

namespace {

// A sink that keeps the replaced body.
struct BodySink : Sink {
    std::string body;
    bool replace_body(std::string_view c) override {
        body = std::string(c);
        return Sink::replace_body(c);
    }
};

const std::string kTrackingDomain = "track_opens = true\ntrack_clicks = true\nunsubscribe = true\n";
const std::string kTrackingSection =
    "[tracking]\nkeys = [\"1:0123456789abcdef-trk\"]\n[http]\npublic_url = \"http://127.0.0.1:8025/\"\n";

// The token after `prefix` in `text` (40 base64url characters).
std::string token_after(const std::string& text, const std::string& prefix) {
    auto at = text.find(prefix);
    REQUIRE(at != std::string::npos);
    return text.substr(at + prefix.size(), records::kTokenChars);
}

}  // namespace

TEST_CASE("tracking stage: links, pixel and List-Unsubscribe, signed; the tokens work", "[milter][tracking]") {
    mail::init();
    Fixture f("", kTrackingDomain, kTrackingSection);
    auto recs = f.records_store();
    auto tr = records::Tracking::open(f.rt->services->store, recs, nullptr, records::tracking_settings(f.rt->cfg));
    REQUIRE(tr);
    f.rt->services->tracking = *tr;

    Session s = f.session();
    BodySink k;
    s.connect("localhost", "127.0.0.1", "smtpd");
    s.mail("<news@example.com>", "", "QIDK");
    REQUIRE(s.rcpt("<reader@remote.test>").kind == Step::Kind::next);
    s.header("From", " News <news@example.com>");
    s.header("List-Unsubscribe", " <https://elsewhere.example/u>");  // a client's own: replaced
    s.header("MIME-Version", " 1.0");
    s.header("Content-Type", " text/html; charset=utf-8");
    REQUIRE(s.eoh().kind == Step::Kind::next);
    REQUIRE(s.body("<html><body><p><a href=\"https://example.com/x?a=1&amp;b=2\">x</a> "
                   "<a href=\"mailto:n@example.com\">m</a></p></body></html>\r\n")
                .kind == Step::Kind::next);
    REQUIRE(s.eom("QIDK", k).kind == Step::Kind::accept);
    std::string all;
    for (auto& l : k.log) all += l + "\n";

    CHECK(k.body.find("https://example.com/x") == std::string::npos);
    CHECK(k.body.find("mailto:n@example.com") != std::string::npos);
    std::string click = token_after(k.body, "<a href=\"http://127.0.0.1:8025/c/");
    std::string open = token_after(k.body, "<img src=\"http://127.0.0.1:8025/o/");
    CHECK(k.body.find("</p><img src=") != std::string::npos);  // the pixel before </body>
    std::string unsub = token_after(all, "List-Unsubscribe: <http://127.0.0.1:8025/u/");
    CHECK(all.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click") != std::string::npos);
    CHECK(all.find("elsewhere.example") == std::string::npos);
    // Signed and oversigned: each name once more than it occurs in h=.
    auto sig = all.find("DKIM-Signature:");
    REQUIRE(sig != std::string::npos);
    std::string sig_text = str::lower(all.substr(sig));
    size_t h_at = 0;  // "h=", not "bh="
    while ((h_at = sig_text.find("h=", h_at + 1)) != std::string::npos && sig_text[h_at - 1] == 'b') {
    }
    REQUIRE(h_at != std::string::npos);
    std::string h;
    for (size_t i = h_at; i < sig_text.size() && sig_text[i] != ';'; ++i)
        if (!std::isspace(static_cast<unsigned char>(sig_text[i]))) h.push_back(sig_text[i]);
    h += ":";
    auto count = [&](const std::string& n) {
        size_t c = 0;
        for (size_t at = h.find(n); at != std::string::npos; at = h.find(n, at + 1)) ++c;
        return c;
    };
    CHECK(count("list-unsubscribe-post") == 2);
    CHECK(count("list-unsubscribe:") >= 2);
    // The tokens name the record the message got.
    auto id_at = all.find("X-SES-Message-ID: ");
    REQUIRE(id_at != std::string::npos);
    std::string id = all.substr(id_at + 18, 26);
    auto keys = records::tracking_settings(f.rt->cfg).keys;
    auto dt = records::decode_token(click, keys);
    REQUIRE(dt);
    CHECK(dt->message_id == id);
    CHECK(dt->recipient == uint16_t{0});

    // The handlers: exact redirect, open marked, unsubscribe recorded.
    REQUIRE(f.rt->services->store->update([&](store::Txn& txn) -> Status {
        auto url = (*tr)->click(txn, click, "UA", 1'800'000'000);
        REQUIRE(url);
        REQUIRE(*url);
        CHECK(**url == "https://example.com/x?a=1&b=2");
        auto o = (*tr)->open(txn, open, "UA", 1'800'000'000);
        REQUIRE(o);
        CHECK(*o);
        auto u = (*tr)->unsubscribe(txn, unsub, "", 1'800'000'000);
        REQUIRE(u);
        CHECK(*u);
        return ok_status();
    }));
    auto st = state_of(f, id, "reader@remote.test");
    CHECK(st.opened);
    CHECK(st.clicked);
    CHECK(st.unsubscribed);
}

TEST_CASE("tracking stage: mailto: List-Unsubscribe to the return path; mail to it unsubscribes",
          "[milter][tracking][return_path]") {
    mail::init();
    Fixture f("", kTrackingDomain + kReturnPathDomain, kTrackingSection + kReturnPathKeys);
    auto recs = f.records_store();
    auto tr = records::Tracking::open(f.rt->services->store, recs, nullptr, records::tracking_settings(f.rt->cfg));
    REQUIRE(tr);
    f.rt->services->tracking = *tr;

    auto send = [&](const std::string& qid) {
        Session s = f.session();
        Sink k;
        s.connect("localhost", "127.0.0.1", "smtpd");
        s.mail("<news@example.com>", "", qid);
        REQUIRE(s.rcpt("<reader@remote.test>").kind == Step::Kind::next);
        s.header("From", " News <news@example.com>");
        REQUIRE(s.eoh().kind == Step::Kind::next);
        REQUIRE(s.body("hello\r\n").kind == Step::Kind::next);
        REQUIRE(s.eom(qid, k).kind == Step::Kind::accept);
        std::string all;
        for (auto& l : k.log) all += l + "\n";
        auto id_at = all.find("X-SES-Message-ID: ");
        REQUIRE(id_at != std::string::npos);
        const std::string prefix = ">, <mailto:";
        auto at = all.find(prefix);
        REQUIRE(at != std::string::npos);
        auto end = all.find('>', at + prefix.size());
        return std::pair{all.substr(id_at + 18, 26), all.substr(at + prefix.size(), end - at - prefix.size())};
    };
    auto [id, mailto] = send("QIDU");
    std::string address = mailto.substr(0, mailto.find('?'));
    CHECK(mailto.substr(mailto.find('?')) == "?subject=unsubscribe");
    CHECK(address.starts_with("unsub-"));
    CHECK(address.ends_with("@bounce.example.com"));
    auto t = f.rt->return_path.decode_unsubscribe(address);
    REQUIRE(t);
    CHECK(t->message_id == id);

    // A forged address: 550 5.1.1 at RCPT, nothing recorded.
    std::string forged = address;
    forged[8] = forged[8] == 'a' ? 'b' : 'a';
    Step r = send_feedback(f, forged, "Subject: unsubscribe\r\n\r\nplease\r\n", "reader@remote.test");
    CHECK(r.kind == Step::Kind::reject);
    CHECK(r.reply.code == "550");
    CHECK(r.reply.xcode == "5.1.1");
    CHECK_FALSE(state_of(f, id, "reader@remote.test").unsubscribed);

    // The real one (in upper case, as some providers write it): consumed, recorded.
    std::string upper = address;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Step e = send_feedback(f, upper, "Subject: unsubscribe\r\n\r\nplease\r\n", "reader@remote.test");
    CHECK(e.kind == Step::Kind::discard);
    CHECK(state_of(f, id, "reader@remote.test").unsubscribed);
}

TEST_CASE("tracking stage: plain text untouched; off by default; several recipients get no unsubscribe",
          "[milter][tracking]") {
    mail::init();
    Fixture f("", kTrackingDomain, kTrackingSection);
    auto recs = f.records_store();
    auto tr = records::Tracking::open(f.rt->services->store, recs, nullptr, records::tracking_settings(f.rt->cfg));
    REQUIRE(tr);
    f.rt->services->tracking = *tr;
    {
        Session s = f.session();
        BodySink k;
        s.connect("localhost", "127.0.0.1", "smtpd");
        s.mail("<news@example.com>", "", "QIDP");
        REQUIRE(s.rcpt("<a@remote.test>").kind == Step::Kind::next);
        REQUIRE(s.rcpt("<b@remote.test>").kind == Step::Kind::next);
        s.header("From", " News <news@example.com>");
        REQUIRE(s.eoh().kind == Step::Kind::next);
        REQUIRE(s.body("see https://example.com/x\r\n").kind == Step::Kind::next);
        REQUIRE(s.eom("QIDP", k).kind == Step::Kind::accept);
        CHECK(k.body.empty());  // no body replaced
        for (auto& l : k.log)   // no field (h= of the signature names it: oversigned)
            if (l.find("DKIM-Signature") == std::string::npos) CHECK(l.find("List-Unsubscribe") == std::string::npos);
    }
    {
        Fixture g;  // no tracking keys
        g.records_store();
        Session s = g.session();
        BodySink k;
        s.connect("localhost", "127.0.0.1", "smtpd");
        s.mail("<news@example.com>", "", "QIDQ");
        REQUIRE(s.rcpt("<a@remote.test>").kind == Step::Kind::next);
        s.header("From", " News <news@example.com>");
        s.header("Content-Type", " text/html");
        REQUIRE(s.eoh().kind == Step::Kind::next);
        REQUIRE(s.body("<a href=\"https://example.com/\">x</a>\r\n").kind == Step::Kind::next);
        REQUIRE(s.eom("QIDQ", k).kind == Step::Kind::accept);
        CHECK(k.body.empty());
    }
}

TEST_CASE("tracking: configuration", "[milter][tracking][config]") {
    auto load = [](const std::string& domain, const std::string& after) {
        return config::load_string("[[domain]]\nname = \"example.com\"\n" + domain + "\n" + after, "t.toml");
    };
    CHECK(load(kTrackingDomain, kTrackingSection).ok());
    auto no_keys = load("track_opens = true\n", "[http]\npublic_url = \"https://t.example.com\"\n");
    REQUIRE_FALSE(no_keys.ok());
    CHECK(no_keys.error().what.find("[tracking] keys") != std::string::npos);
    CHECK_FALSE(load("track_clicks = true\n", "[tracking]\nkeys = [\"1:0123456789abcdef-trk\"]\n").ok());
    // One-click unsubscribe needs https, except on loopback hosts.
    auto http =
        load("unsubscribe = true\n",
             "[tracking]\nkeys = [\"1:0123456789abcdef-trk\"]\n[http]\npublic_url = \"http://t.example.com\"\n");
    REQUIRE_FALSE(http.ok());
    CHECK(http.error().what.find("https") != std::string::npos);
    CHECK(load("track_opens = true\n",
               "[tracking]\nkeys = [\"1:0123456789abcdef-trk\"]\n[http]\npublic_url = \"http://t.example.com\"\n")
              .ok());
    CHECK_FALSE(load("", "[tracking]\nkeys = [\"1:short\"]\n").ok());
}

TEST_CASE("pools: X-SES-Pool is added after signing and a client's own is removed", "[milter][pools]") {
    Fixture f("", "pool = \"dedicated\"\n",
              "[[pool]]\nname = \"shared\"\naddresses = [\"127.0.0.2\"]\n"
              "[[pool]]\nname = \"dedicated\"\naddresses = [\"127.0.0.3\", \"127.0.0.4\"]\n");
    mail::Message m;
    m.env.mail_from = "alice@example.com";
    m.env.rcpts = {"bob@remote.test"};
    m.feed_header("From", "alice@example.com");
    m.feed_header("X-SES-Pool", " shared 127.0.0.2");
    m.feed_body("hi\r\n");
    Verdict v = milter::end_of_message(m, *f.rt);
    REQUIRE(v.kind == Verdict::Kind::accept);
    // Without warm-up the pool's first address sends.
    CHECK(m.value("X-SES-Pool") == "dedicated 127.0.0.3");
    CHECK(v.log.find(" pool=dedicated address=127.0.0.3") != std::string::npos);
    int signed_at = -1, pool_at = -1, deleted_at = -1;
    for (size_t i = 0; i < m.edits().size(); ++i) {
        const auto& e = m.edits()[i];
        if (e.name == "DKIM-Signature") signed_at = static_cast<int>(i);
        if (e.name == "X-SES-Pool" && e.kind == mail::Edit::Kind::delete_header) deleted_at = static_cast<int>(i);
        if (e.name == "X-SES-Pool" && e.kind == mail::Edit::Kind::insert_header) pool_at = static_cast<int>(i);
    }
    CHECK(deleted_at >= 0);
    REQUIRE(signed_at >= 0);
    CHECK(pool_at > signed_at);
    CHECK(str::lower(*m.value("DKIM-Signature")).find("x-ses-pool") == std::string::npos);
}
