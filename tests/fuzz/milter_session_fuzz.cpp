// milter_session_fuzz.cpp -- libFuzzer target: a milter Session driven by
// any sequence of MTA steps.
//
// The input is decoded into up to 200 operations; each starts with one byte
// choosing the step (connect, helo, mail, rcpt, header, eoh, body chunk,
// end of message, abort, or a new connection with other negotiated flags),
// followed by the step's arguments as length-prefixed strings.  End of
// message replays the edits into a sink that refuses the edit chosen by the
// input.  The Runtime is built once from a small config (one Ed25519 key, a
// 2 KB size limit, no store).  Crashes, sanitizer reports, hangs and these
// broken promises are findings:
//   - a step answers accept/reject/tempfail only where the MTA waits
//     (never in a no-reply step),
//   - after a refused edit nothing more is sent to the MTA,
//   - a new transaction never starts with a pending answer.
//
//   make fuzz && build/fuzz/milter_session_fuzz -max_total_time=60
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "dkim/keygen.hpp"
#include "milter/session.hpp"
#include "util/log.hpp"

using namespace ses;

namespace {

std::shared_ptr<const milter::Runtime> make_runtime() {
    // syslog with no /dev/log: the per-message lines go nowhere, fast.
    log::setup("milter_session_fuzz", log::Target::syslog, log::Level::error);
    auto key = dkim::generate_key("ed25519", 0);
    if (!key) std::abort();
    std::string path = "/tmp/milter_session_fuzz." + std::to_string(::getpid()) + ".pem";
    { std::ofstream(path) << key->pem; }
    ::chmod(path.c_str(), 0600);
    std::string toml =
        "[milter]\nmax_message_size = \"2KB\"\n"
        "[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"s1\", key = \"" +
        path + "\" } ]\n";
    auto cfg = config::load_string(toml, "fuzz.toml");
    if (!cfg) std::abort();
    auto rt = std::make_shared<milter::Runtime>();
    auto ks = dkim::KeyStore::load(*cfg);
    auto signer = dkim::Signer::create(*cfg);
    ::unlink(path.c_str());
    if (!ks || !signer) std::abort();
    rt->keys = std::move(*ks);
    rt->signer = std::move(*signer);
    rt->settings = milter::MessageSettings::from(*cfg);
    rt->cfg = std::move(*cfg);
    return rt;
}

struct Input {
    const uint8_t* p;
    size_t n;
    bool empty() const { return n == 0; }
    uint8_t byte() {
        if (!n) return 0;
        --n;
        return *p++;
    }
    std::string str() {
        size_t len = byte();
        len = std::min(len, n);
        std::string s(reinterpret_cast<const char*>(p), len);
        p += len;
        n -= len;
        return s;
    }
};

struct Sink : milter::EditSink {
    int fail_at = 0;
    int calls = 0;
    bool refused = false;
    bool call() {
        if (refused) std::abort();  // an edit sent after a refused one
        if (++calls == fail_at) refused = true;
        return !refused;
    }
    bool insert_header(int, const std::string&, const std::string&) override { return call(); }
    bool change_header(const std::string&, int, const std::string&) override { return call(); }
    bool delete_header(const std::string&, int) override { return call(); }
    bool quarantine(const std::string&) override { return call(); }
    bool change_from(const std::string&, const std::string&) override { return call(); }
    bool replace_body(std::string_view) override { return call(); }
    bool delete_rcpt(const std::string&) override { return call(); }
};

// A no-reply step must not produce an answer for the MTA.
void quiet(const milter::Step& s) {
    if (s.kind != milter::Step::Kind::next) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::shared_ptr<const milter::Runtime> rt = make_runtime();
    auto source = [] { return rt; };
    Input in{data, size};
    milter::NoReply nr;
    bool leadspc = false;
    auto s = std::make_unique<milter::Session>(leadspc, nr, source);
    for (int op = 0; op < 200 && !in.empty(); ++op) {
        switch (in.byte() % 10) {
            case 0: {
                std::string name = in.str(), addr = in.str();
                milter::Step st = s->connect(name, addr, in.str());
                if (nr.connect) quiet(st);
                break;
            }
            case 1: {
                milter::Step st = s->helo(in.str());
                if (nr.helo) quiet(st);
                break;
            }
            case 2: {
                std::string from = in.str();
                milter::Step st = s->mail(from, in.str(), in.str());
                if (nr.mail) quiet(st);
                if (st.kind == milter::Step::Kind::next && !nr.mail && s->has_pending()) std::abort();
                break;
            }
            case 3:
                s->rcpt(in.str());
                break;
            case 4: {
                std::string name = in.str();
                milter::Step st = s->header(name, in.str());
                if (nr.header) quiet(st);
                break;
            }
            case 5: {
                milter::Step st = s->eoh();
                if (nr.eoh) quiet(st);
                break;
            }
            case 6: {
                // Chunks of up to 255 bytes, or a large one to pass the limit.
                uint8_t b = in.byte();
                if (b == 0xff)
                    s->body(std::string(3000, 'x'));
                else
                    s->body(in.str());
                break;
            }
            case 7: {
                Sink sink;
                sink.fail_at = in.byte() % 8;  // 0: never refuse
                s->eom(in.str(), sink);
                break;
            }
            case 8:
                s->abort();
                break;
            case 9: {
                uint8_t f = in.byte();
                nr.connect = f & 1;
                nr.helo = f & 2;
                nr.mail = f & 4;
                nr.header = f & 8;
                nr.eoh = f & 16;
                leadspc = f & 32;
                s = std::make_unique<milter::Session>(leadspc, nr, source);
                break;
            }
        }
    }
    return 0;
}
