// resolver.cpp -- see resolver.hpp.
#include "dns/resolver.hpp"

#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::dns {

namespace {

// One outstanding question.  Shared between the asking thread and the
// delivering thread; whoever finishes last frees it (shared_ptr).
struct Pending {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    int err = 0;
    ub_result* result = nullptr;
    ~Pending() {
        if (result) ub_resolve_free(result);
    }
};

void on_result(void* arg, int err, ub_result* result) {
    auto* holder = static_cast<std::shared_ptr<Pending>*>(arg);
    {
        std::lock_guard<std::mutex> g((*holder)->m);
        (*holder)->err = err;
        (*holder)->result = result;
        (*holder)->done = true;
    }
    (*holder)->cv.notify_all();
    delete holder;
}

Answer temperror(std::string why) {
    Answer a;
    a.rcode = Rcode::temperror;
    a.why = std::move(why);
    return a;
}

Answer to_answer(int err, ub_result* r, uint16_t type) {
    if (err != 0) return temperror(std::string("resolver: ") + ub_strerror(err));
    if (!r) return temperror("resolver: no result");
    Answer a;
    a.rcode = classify(0, r->rcode, r->havedata != 0, r->bogus != 0);
    a.secure = r->secure != 0;
    a.ttl = r->ttl > 0 ? static_cast<uint32_t>(r->ttl) : 0;
    if (r->answer_packet && r->answer_len > 0)
        a.packet.assign(static_cast<const char*>(r->answer_packet), static_cast<size_t>(r->answer_len));
    if (r->bogus)
        a.why = std::string("DNSSEC bogus: ") + (r->why_bogus ? r->why_bogus : "");
    else if (a.rcode == Rcode::temperror)
        a.why = "rcode " + std::to_string(r->rcode);
    if (a.rcode != Rcode::ok) return a;

    std::vector<std::pair<unsigned, std::string>> mx;
    for (int i = 0; r->data && r->data[i]; ++i) {
        auto v = decode_rdata(type, std::string_view(r->data[i], static_cast<size_t>(r->len[i])));
        if (!v) continue;  // a malformed record is skipped, not fatal
        if (type == rr::MX) {
            auto sp = v->find(' ');
            mx.emplace_back(static_cast<unsigned>(std::stoul(v->substr(0, sp))), v->substr(sp + 1));
        } else {
            a.values.push_back(std::move(*v));
        }
    }
    if (type == rr::MX) {
        std::stable_sort(mx.begin(), mx.end(), [](auto& x, auto& y) { return x.first < y.first; });
        for (auto& [p, h] : mx) a.values.push_back(h);
    }
    if (a.values.empty()) a.rcode = Rcode::nodata;
    return a;
}

}  // namespace

struct Resolver::Impl {
    ub_ctx* ctx = nullptr;
    int64_t timeout = 5;
    std::atomic<bool> stop{false};
    std::once_flag started;
    pid_t owner = 0;  // the process whose threads use ctx (0: none yet)
    std::thread pump;

    ~Impl() {
        stop = true;
        if (pump.joinable()) pump.join();
        if (ctx) ub_ctx_delete(ctx);
    }

    // Threads start with the first question, so a resolver made before
    // daemonizing (to check the configuration) is safe to drop afterwards.
    void start() {
        std::call_once(started, [this] {
            owner = ::getpid();
            pump = std::thread([this] { run(); });
        });
    }

    // Delivers results: wait on libunbound's fd and let ub_process call
    // on_result for whatever is ready.
    void run() {
        int fd = ub_fd(ctx);
        while (!stop) {
            pollfd p{fd, POLLIN, 0};
            int n = ::poll(&p, 1, 100);
            if (n > 0) ub_process(ctx);
        }
    }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() {
    // Dropped in a fork()ed child of the process that asked questions: the
    // threads that own the context live only in the parent, so leave it
    // (and the thread object) untouched.
    if (impl_ && impl_->owner != 0 && impl_->owner != ::getpid()) (void)impl_.release();
}

Result<std::shared_ptr<Resolver>> Resolver::create(const Settings& s) {
    auto impl = std::make_unique<Impl>();
    impl->timeout = s.timeout > 0 ? s.timeout : 5;
    impl->ctx = ub_ctx_create();
    if (!impl->ctx) return internal_error("dns: ub_ctx_create failed");
    ub_ctx* c = impl->ctx;
    int rc;
    if ((rc = ub_ctx_async(c, 1)) != 0)  // a thread, never a fork()ed process
        return internal_error(std::string("dns: ub_ctx_async: ") + ub_strerror(rc));
    ub_ctx_set_option(c, "do-not-query-localhost:", "no");
    ub_ctx_set_option(c, "verbosity:", "0");
    if (s.forwarders.empty()) {
        if ((rc = ub_ctx_resolvconf(c, nullptr)) != 0)
            return internal_error(std::string("dns: cannot read /etc/resolv.conf: ") + ub_strerror(rc));
    } else {
        for (auto& f : s.forwarders) {
            if ((rc = ub_ctx_set_fwd(c, f.c_str())) != 0)
                return internal_error("dns: bad forwarder '" + f + "': " + ub_strerror(rc));
        }
        // Configured forwarders answer for everything: libunbound's built-in
        // NXDOMAIN zones (RFC 6761 test./invalid., the RFC 5737/3849
        // documentation reverse zones, AS112) would hide what they serve.
        static const char* const zones[] = {
            "test.",
            "invalid.",
            "onion.",
            "home.arpa.",
            "resolver.arpa.",
            "service.arpa.",
            "10.in-addr.arpa.",
            "16.172.in-addr.arpa.",
            "17.172.in-addr.arpa.",
            "18.172.in-addr.arpa.",
            "19.172.in-addr.arpa.",
            "20.172.in-addr.arpa.",
            "21.172.in-addr.arpa.",
            "22.172.in-addr.arpa.",
            "23.172.in-addr.arpa.",
            "24.172.in-addr.arpa.",
            "25.172.in-addr.arpa.",
            "26.172.in-addr.arpa.",
            "27.172.in-addr.arpa.",
            "28.172.in-addr.arpa.",
            "29.172.in-addr.arpa.",
            "30.172.in-addr.arpa.",
            "31.172.in-addr.arpa.",
            "168.192.in-addr.arpa.",
            "0.in-addr.arpa.",
            "254.169.in-addr.arpa.",
            "2.0.192.in-addr.arpa.",
            "100.51.198.in-addr.arpa.",
            "113.0.203.in-addr.arpa.",
            "255.255.255.255.in-addr.arpa.",
            "d.f.ip6.arpa.",
            "8.e.f.ip6.arpa.",
            "9.e.f.ip6.arpa.",
            "a.e.f.ip6.arpa.",
            "b.e.f.ip6.arpa.",
            "8.b.d.0.1.0.0.2.ip6.arpa.",
            "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
        };
        for (const char* z : zones) ub_ctx_set_option(c, "local-zone:", (std::string(z) + " transparent").c_str());
    }
    if (s.dnssec) {
        if (::access(s.trust_anchor.c_str(), R_OK) != 0)
            return internal_error("dns: dnssec = true but the trust anchor " + s.trust_anchor +
                                  " is not readable (apt-get install dns-root-data)");
        if ((rc = ub_ctx_add_ta_file(c, s.trust_anchor.c_str())) != 0)
            return internal_error("dns: trust anchor " + s.trust_anchor + ": " + ub_strerror(rc));
    }
    if (ub_fd(c) < 0) return internal_error("dns: libunbound has no result descriptor");
    return std::shared_ptr<Resolver>(new Resolver(std::move(impl)));
}

Answer Resolver::query(std::string_view name_in, uint16_t type) const {
    std::string name(name_in);
    if (!valid_name(name)) {
        Answer a;
        a.rcode = Rcode::nxdomain;
        a.why = "invalid domain name";
        return a;
    }
    impl_->start();
    auto p = std::make_shared<Pending>();
    auto* holder = new std::shared_ptr<Pending>(p);
    int id = 0;
    int rc = ub_resolve_async(impl_->ctx, name.c_str(), type, 1 /* IN */, holder, on_result, &id);
    if (rc != 0) {
        delete holder;
        return temperror(std::string("resolver: ") + ub_strerror(rc));
    }
    std::unique_lock<std::mutex> lk(p->m);
    bool done = p->cv.wait_for(lk, std::chrono::seconds(impl_->timeout), [&] { return p->done; });
    if (!done) {
        lk.unlock();
        // If the cancel finds the question, on_result will never run and the
        // holder is ours to free; otherwise on_result has it (or had it).
        if (ub_cancel(impl_->ctx, id) == 0) delete holder;
        log::debug("dns: " + name + " " + std::string(type_name(type)) + " timed out");
        return temperror("DNS timeout after " + std::to_string(impl_->timeout) + "s");
    }
    ub_result* r = p->result;
    return to_answer(p->err, r, type);
}

}  // namespace ses::dns
