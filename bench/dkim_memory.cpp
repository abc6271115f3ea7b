// dkim_memory.cpp -- long-run memory of signing: N signatures with one key
// (default 100 000 Ed25519), RSS (VmRSS) and heap in use (mallinfo2) before
// and after, their ratio and the growth per signature.  libopendkim 2.11
// leaks on every Ed25519 signature unless the workaround in
// src/dkim/handle.cpp releases what dkim_free() forgets; the third argument
// chooses the signer ([dkim] signer; "opendkim" exercises that work-around).
//
//   build/bench/dkim_memory [ed25519|rsa] [N] [native|opendkim]
//
// Exit status 1 when the heap grows by more than a fixed bound (1 MiB),
// whatever N is.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "dkim/key_store.hpp"
#include "dkim/keygen.hpp"
#include "dkim/signer.hpp"

using namespace ses;

static long rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

static size_t heap_bytes() { return mallinfo2().uordblks; }

int main(int argc, char** argv) {
    std::string alg = argc > 1 ? argv[1] : "ed25519";
    long n = argc > 2 ? std::atol(argv[2]) : 100000;
    std::string which = argc > 3 ? argv[3] : "native";
    auto key = dkim::generate_key(alg, alg == "rsa" ? 2048 : 0);
    if (!key) {
        std::fprintf(stderr, "keygen: %s\n", key.error().what.c_str());
        return 2;
    }
    std::string path = "/tmp/ses-bench-dkim-" + std::to_string(getpid()) + ".pem";
    std::ofstream(path) << key->pem;
    chmod(path.c_str(), 0600);
    auto cfg = config::load_string(
        "[dkim]\nsigner = \"" + which +
            "\"\n[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"s1\", key = \"" + path + "\" } ]\n",
        "bench.toml");
    if (!cfg) return 2;
    auto ks = dkim::KeyStore::load(*cfg);
    auto signer = dkim::Signer::create(*cfg);
    unlink(path.c_str());
    if (!ks || !signer) return 2;
    const dkim::DomainKeys* dk = ks->select("example.com", "");
    mail::Message m;
    m.feed_header("From", " sender@example.com");
    m.feed_header("To", " rcpt@example.org");
    m.feed_header("Subject", " memory");
    m.feed_body("hello\r\nworld\r\n");
    auto sign = [&] {
        auto s = (*signer)->sign(m, *dk);
        if (!s) {
            std::fprintf(stderr, "sign: %s\n", s.error().what.c_str());
            std::exit(2);
        }
    };
    for (int i = 0; i < 1000; ++i) sign();  // warm-up: caches, arenas
    long rss0 = rss_kib();
    size_t heap0 = heap_bytes();
    for (long i = 0; i < n; ++i) sign();
    long rss1 = rss_kib();
    size_t heap1 = heap_bytes();
    double grow = static_cast<double>(heap1) - static_cast<double>(heap0);
    std::printf("%s, %s signer: %ld signatures\n", alg.c_str(), which.c_str(), n);
    std::printf("  RSS   before %8ld KiB  after %8ld KiB  ratio %.3f\n", rss0, rss1,
                static_cast<double>(rss1) / static_cast<double>(rss0));
    std::printf("  heap  before %8zu B    after %8zu B    ratio %.3f  growth %.1f B/signature\n", heap0, heap1,
                static_cast<double>(heap1) / static_cast<double>(heap0), grow / static_cast<double>(n));
    bool ok = grow <= 1024.0 * 1024.0;
    std::printf("  %s (bound: heap growth <= 1 MiB)\n", ok ? "PASS" : "MISS");
    return ok ? 0 : 1;
}
