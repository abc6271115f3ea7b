// dkim_test.cpp -- key checks, key selection, signatures.
#include <catch2/catch.hpp>

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <cctype>
#include <map>
#include <random>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config/config.hpp"
#include "crypto/encoding.hpp"
#include "dkim/handle.hpp"
#include "dkim/key_cache.hpp"
#include "dkim/key_store.hpp"
#include "dkim/keygen.hpp"
#include "dkim/signer.hpp"
#include "dkim/verifier.hpp"
#include "dns/answer.hpp"
#include "util/strings.hpp"
#include "mail/body.hpp"

using namespace ses;

namespace {
std::string tmpdir() {
    char t[] = "/tmp/sesdkimXXXXXX";
    REQUIRE(mkdtemp(t));
    return t;
}
std::string write_key(const std::string& dir, const std::string& name, const std::string& pem, mode_t mode) {
    std::string p = dir + "/" + name;
    std::ofstream(p) << pem;
    chmod(p.c_str(), mode);
    return p;
}
}  // namespace

TEST_CASE("domain matching prefers exact, then the longest parent", "[dkim]") {
    std::vector<std::string> d = {"example.com", "mail.example.com", "other.org"};
    CHECK(dkim::match_domain(d, "example.com", true) == 0);
    CHECK(dkim::match_domain(d, "EXAMPLE.com", true) == 0);
    CHECK(dkim::match_domain(d, "news.example.com", true) == 0);
    CHECK(dkim::match_domain(d, "a.mail.example.com", true) == 1);
    CHECK(dkim::match_domain(d, "mail.example.com", true) == 1);
    CHECK(dkim::match_domain(d, "news.example.com", false) == -1);
    CHECK(dkim::match_domain(d, "badexample.com", true) == -1);
    CHECK(dkim::match_domain(d, "", true) == -1);
}

TEST_CASE("key generation gives records in the published form", "[dkim]") {
    auto rsa = dkim::generate_key("rsa", 1024);
    REQUIRE(rsa.ok());
    CHECK(rsa->txt.rfind("v=DKIM1; k=rsa; p=MIGf", 0) == 0);
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(ed.ok());
    CHECK(ed->txt.rfind("v=DKIM1; k=ed25519; p=", 0) == 0);
    CHECK(ed->txt.size() == std::string("v=DKIM1; k=ed25519; p=").size() + 44);
    CHECK_FALSE(dkim::generate_key("dsa", 0).ok());
    CHECK_FALSE(dkim::generate_key("rsa", 512).ok());
    auto big = dkim::generate_key("rsa", 2048);
    REQUIRE(big.ok());
    auto parts = dkim::txt_strings(big->txt);
    CHECK(parts.size() == 2);
    for (auto& p : parts) CHECK(p.size() <= 255);
    CHECK(dkim::zone_line("s1", "example.com", "v=DKIM1") == "s1._domainkey.example.com. IN TXT ( \"v=DKIM1\" )");
}

TEST_CASE("keys are checked at load: mode, parse, size", "[dkim]") {
    std::string dir = tmpdir();
    auto rsa = dkim::generate_key("rsa", 1024);
    REQUIRE(rsa.ok());
    auto load = [&](const std::string& path, int min_bits = 1024) {
        std::string toml = "[dkim]\nmin_rsa_bits = " + std::to_string(min_bits) +
                           "\n[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"s1\", key = \"" + path +
                           "\" } ]\n";
        auto cfg = config::load_string(toml, "t.toml");
        REQUIRE(cfg.ok());
        return dkim::KeyStore::load(*cfg);
    };
    CHECK(load(write_key(dir, "good.pem", rsa->pem, 0600)).ok());
    CHECK(load(write_key(dir, "ro.pem", rsa->pem, 0400)).ok());
    auto loose = load(write_key(dir, "loose.pem", rsa->pem, 0644));
    REQUIRE_FALSE(loose.ok());
    CHECK(loose.error().what.find("mode 0644") != std::string::npos);
    auto junk = load(write_key(dir, "junk.pem", "not a key", 0600));
    REQUIRE_FALSE(junk.ok());
    CHECK(junk.error().what.find("not a PEM private key") != std::string::npos);
    auto small = load(write_key(dir, "small.pem", rsa->pem, 0600), 2048);
    REQUIRE_FALSE(small.ok());
    CHECK(small.error().what.find("1024 bits") != std::string::npos);
    auto missing = load(dir + "/missing.pem");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().what.find("No such file") != std::string::npos);
}

TEST_CASE("every key of the domain signs, over the final message", "[dkim]") {
    std::string dir = tmpdir();
    auto rsa = dkim::generate_key("rsa", 2048);
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(rsa.ok());
    REQUIRE(ed.ok());
    std::string toml = "[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"s1\", key = \"" +
                       write_key(dir, "r.pem", rsa->pem, 0600) + "\" }, { selector = \"e1\", key = \"" +
                       write_key(dir, "e.pem", ed->pem, 0600) + "\" } ]\n";
    auto cfg = config::load_string(toml, "t.toml");
    REQUIRE(cfg.ok());
    auto ks = dkim::KeyStore::load(*cfg);
    REQUIRE(ks.ok());
    const dkim::DomainKeys* dk = ks->select("news.example.com", "");
    REQUIRE(dk);
    CHECK(ks->select("example.org", "bounce@example.org") == nullptr);
    CHECK(ks->select("example.org", "example.com") == dk);
    for (std::string which : {"native", "opendkim"}) {
        INFO("signer " << which);
        cfg->dkim.signer = which;
        auto signer = dkim::Signer::create(*cfg);
        REQUIRE(signer.ok());

        mail::Message m;
        m.feed_header("From", " a@news.example.com");
        m.feed_header("To", " b@example.org");
        m.feed_header("Subject", " test\n\tfolded");
        m.feed_body("hello\r\n");
        unsigned long hits = dkim::cache_hits();
        auto sigs = (*signer)->sign(m, *dk);
        REQUIRE(sigs.ok());
        // libopendkim got both keys from the start-up parse, not a new one;
        // the native signer uses the parsed key directly.
        CHECK(dkim::cache_hits() == hits + (which == "opendkim" ? 2 : 0));
        REQUIRE(sigs->size() == 2);
        CHECK((*sigs)[0].find("a=rsa-sha256") != std::string::npos);
        CHECK((*sigs)[0].find("s=s1") != std::string::npos);
        CHECK((*sigs)[0].find("d=example.com") != std::string::npos);
        CHECK((*sigs)[0].find("c=relaxed/relaxed") != std::string::npos);
        CHECK((*sigs)[1].find("a=ed25519-sha256") != std::string::npos);
        CHECK((*sigs)[1].find("s=e1") != std::string::npos);
        // From is oversigned: named twice in h=.
        size_t hpos = 0;
        while ((hpos = (*sigs)[0].find("h=", hpos + 1)) != std::string::npos && (*sigs)[0][hpos - 1] == 'b') {
        }
        REQUIRE(hpos != std::string::npos);
        auto h = (*sigs)[0].substr(hpos);
        h = h.substr(0, h.find(';'));
        std::string flat;
        for (char c : h)
            if (c != '\n' && c != '\t' && c != ' ')
                flat += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        INFO(flat);
        auto first = flat.find("from");
        REQUIRE(first != std::string::npos);
        CHECK(flat.find("from", first + 1) != std::string::npos);
        CHECK(flat.find("subject") != std::string::npos);
        for (auto& s : *sigs) CHECK(s.find('\r') == std::string::npos);  // libmilter folding: bare LF
    }
}

TEST_CASE("the key cache serves only exactly registered text", "[dkim]") {
    auto k = dkim::generate_key("ed25519", 0);
    REQUIRE(k.ok());
    unsigned long before = dkim::cache_hits();
    auto read = [](const std::string& pem) {
        BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        EVP_PKEY* p = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
        BIO_free(b);
        bool ok = p != nullptr;
        EVP_PKEY_free(p);
        return ok;
    };
    CHECK(read(k->pem));  // not registered: a real parse
    CHECK(dkim::cache_hits() == before);
    {
        auto handle = dkim::cache_key(k->pem);
        REQUIRE(handle);
        CHECK(read(k->pem));
        CHECK(dkim::cache_hits() == before + 1);
        CHECK(read(k->pem + "\n"));  // other bytes: parsed, not served
        CHECK(dkim::cache_hits() == before + 1);
    }
    CHECK(read(k->pem));  // unregistered again
    CHECK(dkim::cache_hits() == before + 1);
    CHECK_FALSE(dkim::cache_key("junk"));
}

TEST_CASE("encrypted keys are refused with a clear message, never prompted for", "[dkim]") {
    auto k = dkim::generate_key("rsa", 1024);
    REQUIRE(k.ok());
    BIO* in = BIO_new_mem_buf(k->pem.data(), static_cast<int>(k->pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    REQUIRE(pkey);
    auto encrypt = [&](bool pkcs8) {
        BIO* out = BIO_new(BIO_s_mem());
        char pass[] = "secret";
        int ok = pkcs8 ? PEM_write_bio_PKCS8PrivateKey(out, pkey, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr)
                       : PEM_write_bio_PrivateKey_traditional(
                             out, pkey, EVP_aes_256_cbc(), reinterpret_cast<unsigned char*>(pass), 6, nullptr, nullptr);
        REQUIRE(ok == 1);
        char* data = nullptr;
        long n = BIO_get_mem_data(out, &data);
        std::string pem(data, static_cast<size_t>(n));
        BIO_free(out);
        return pem;
    };
    for (bool pkcs8 : {true, false}) {
        std::string pem = encrypt(pkcs8);
        INFO(pem.substr(0, 60));
        CHECK(dkim::is_encrypted_pem(pem));
        auto r = dkim::parse_key(pem, "/keys/enc.pem", 1024);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what.find("/keys/enc.pem: the key is encrypted") != std::string::npos);
        CHECK_FALSE(dkim::public_txt(pem).ok());
        CHECK_FALSE(dkim::cache_key(pem));
    }
    CHECK_FALSE(dkim::is_encrypted_pem(k->pem));
    EVP_PKEY_free(pkey);
}

TEST_CASE("signing leaves no memory behind, Ed25519 as RSA", "[dkim][leak]") {
    // libopendkim 2.11's dkim_free() releases the key material of RSA
    // handles only; every Ed25519 signature used to leave its key BIO, its
    // signature buffer and a key reference behind.  The opendkim signer
    // (`[dkim] signer = "opendkim"`) still relies on the work-around.
    std::string dir = tmpdir();
    for (std::string alg : {"ed25519", "rsa"}) {
        INFO(alg);
        auto k = dkim::generate_key(alg, alg == "rsa" ? 1024 : 0);
        REQUIRE(k.ok());
        std::string toml =
            "[dkim]\nsigner = \"opendkim\"\nmin_rsa_bits = 1024\n[[domain]]\nname = \"example.com\"\ndkim = "
            "[ { selector = \"s1\", key = \"" +
            write_key(dir, alg + ".pem", k->pem, 0600) + "\" } ]\n";
        auto cfg = config::load_string(toml, "t.toml");
        REQUIRE(cfg.ok());
        auto ks = dkim::KeyStore::load(*cfg);
        REQUIRE(ks.ok());
        auto signer = dkim::Signer::create(*cfg);
        REQUIRE(signer.ok());
        const dkim::DomainKeys* dk = ks->select("example.com", "");
        REQUIRE(dk);
        mail::Message m;
        m.feed_header("From", " a@example.com");
        m.feed_header("Subject", " leak");
        m.feed_body("hello\r\n");
        // The same key as text the cache does not hold: libopendkim parses
        // a new EVP_PKEY per signature, which it never freed for Ed25519.
        dkim::DomainKeys uncached = *dk;
        uncached.keys[0].pem += "\n";
        uncached.keys[0].cached.reset();
        for (const dkim::DomainKeys* keys : {dk, static_cast<const dkim::DomainKeys*>(&uncached)}) {
            INFO((keys == dk ? "cached key" : "uncached key"));
            auto sign_n = [&](int n) {
                for (int i = 0; i < n; ++i) REQUIRE((*signer)->sign(m, *keys).ok());
            };
            sign_n(200);  // warm-up
            auto stats0 = dkim::handle_stats();
            size_t before = mallinfo2().uordblks;
            const int n = alg == "rsa" ? 300 : 2000;
            sign_n(n);
            long grown = static_cast<long>(mallinfo2().uordblks) - static_cast<long>(before);
            INFO("heap grew by " << grown << " bytes over " << n << " signatures");
            // The leak was 80 bytes per signature with the cached key, ~580
            // uncached; a fresh parse each time also grows OpenSSL's own
            // caches a little, hence the wider bound there.
            CHECK(grown < (keys == dk ? 16 : 64) * n);
            auto stats1 = dkim::handle_stats();
            unsigned long expect = alg == "rsa" ? 0 : static_cast<unsigned long>(n);
            CHECK(stats1.ed25519_handles - stats0.ed25519_handles == expect);
            CHECK(stats1.buffers_freed - stats0.buffers_freed == expect);  // the 64-byte signature buffer
            CHECK(stats1.keys_freed - stats0.keys_freed == expect);
        }
    }
}

TEST_CASE("a spooled body is signed as the same body in memory", "[dkim][body]") {
    std::string dir = tmpdir();
    auto rsa = dkim::generate_key("rsa", 1024);
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(rsa.ok());
    REQUIRE(ed.ok());
    std::string toml =
        "[dkim]\nmin_rsa_bits = 1024\n[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"s1\", "
        "key = \"" +
        write_key(dir, "r.pem", rsa->pem, 0600) + "\" }, { selector = \"e1\", key = \"" +
        write_key(dir, "e.pem", ed->pem, 0600) + "\" } ]\n";
    auto cfg = config::load_string(toml, "t.toml");
    REQUIRE(cfg.ok());
    auto ks = dkim::KeyStore::load(*cfg);
    REQUIRE(ks.ok());
    auto signer = dkim::Signer::create(*cfg);
    REQUIRE(signer.ok());
    const dkim::DomainKeys* dk = ks->select("example.com", "");
    std::string body;
    for (int i = 0; i < 5000; ++i) body += "line " + std::to_string(i) + " of a body larger than the threshold\r\n";
    auto bh = [&](bool spool) {
        mail::set_spool_settings({dir, spool ? 4096 : body.size() + 1});
        mail::Message m;
        m.feed_header("From", " a@example.com");
        for (size_t off = 0; off < body.size(); off += 65535) m.feed_body(std::string_view(body).substr(off, 65535));
        CHECK(m.body_data().spooled() == spool);
        auto sigs = (*signer)->sign(m, *dk);
        REQUIRE(sigs.ok());
        REQUIRE(sigs->size() == 2);
        std::vector<std::string> out;
        for (auto& s : *sigs) {
            auto p = s.find("bh=");
            REQUIRE(p != std::string::npos);
            out.push_back(s.substr(p, s.find(';', p) - p));
        }
        return out;
    };
    auto in_memory = bh(false);
    auto spooled = bh(true);
    mail::set_spool_settings({});
    CHECK(in_memory == spooled);
    CHECK(in_memory[0] == in_memory[1]);  // one body hash, both keys
}

namespace {
// Answers TXT questions from a table with a whole wire-format reply, as the
// verifier's DNS hooks need (StaticLookup gives only the text form).
class WireTxt final : public dns::Lookup {
public:
    std::map<std::string, std::string> txt;
    dns::Answer query(std::string_view name, uint16_t type) const override {
        dns::Answer a;
        auto it = txt.find(std::string(name));
        if (it == txt.end() || type != dns::rr::TXT) {
            a.rcode = dns::Rcode::nxdomain;
            return a;
        }
        std::string p("\0\0\x81\x80\0\1\0\1\0\0\0\0", 12);
        for (auto& label : str::split(name, '.')) {
            p += static_cast<char>(label.size());
            p += label;
        }
        p += std::string("\0\0\x10\0\1", 5);  // root, TXT, IN
        std::string rdata;
        for (size_t off = 0; off < it->second.size(); off += 255) {
            std::string part = it->second.substr(off, 255);
            rdata += static_cast<char>(part.size());
            rdata += part;
        }
        p += std::string("\xc0\x0c\0\x10\0\1\0\0\x0e\x10", 10);  // name ptr, TXT, IN, ttl 3600
        p += static_cast<char>(rdata.size() >> 8);
        p += static_cast<char>(rdata.size() & 0xff);
        p += rdata;
        a.rcode = dns::Rcode::ok;
        a.values = {it->second};
        a.packet = p;
        return a;
    }
};
}  // namespace

TEST_CASE("verifying Ed25519 signatures leaves no memory behind", "[dkim][leak]") {
    std::string dir = tmpdir();
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(ed.ok());
    std::string toml = "[[domain]]\nname = \"example.com\"\ndkim = [ { selector = \"e1\", key = \"" +
                       write_key(dir, "e.pem", ed->pem, 0600) + "\" } ]\n";
    auto cfg = config::load_string(toml, "t.toml");
    REQUIRE(cfg.ok());
    auto ks = dkim::KeyStore::load(*cfg);
    REQUIRE(ks.ok());
    auto signer = dkim::Signer::create(*cfg);
    REQUIRE(signer.ok());
    mail::Message m;
    m.feed_header("From", " a@example.com");
    m.feed_header("Subject", " verify");
    m.feed_body("hello\r\n");
    auto sigs = (*signer)->sign(m, *ks->select("example.com", ""));
    REQUIRE(sigs.ok());
    m.insert_header(0, "DKIM-Signature", (*sigs)[0]);
    auto z = std::make_shared<WireTxt>();
    z->txt["e1._domainkey.example.com"] = ed->txt;
    dkim::Verifier v(z);
    auto verify_n = [&](int n) {
        for (int i = 0; i < n; ++i) {
            auto out = v.verify(m);
            REQUIRE(out.signatures.size() == 1);
            REQUIRE(out.signatures[0].result == "pass");
        }
    };
    verify_n(200);
    size_t before = mallinfo2().uordblks;
    const int n = 2000;
    verify_n(n);
    long grown = static_cast<long>(mallinfo2().uordblks) - static_cast<long>(before);
    INFO("heap grew by " << grown << " bytes over " << n << " verifications");
    CHECK(grown < 16 * n);
}

TEST_CASE("folded header values sign the same with bare LF as with CRLF", "[dkim]") {
    // The milter hands folded values with bare LF; DKIM hashes them with
    // CRLF.  The signer converts them a line at a time (#16), which must
    // neither double an existing CR nor miss an LF at either end.
    std::string dir = tmpdir();
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(ed.ok());
    std::string key = write_key(dir, "e.pem", ed->pem, 0600);
    auto z = std::make_shared<WireTxt>();
    z->txt["e1._domainkey.example.com"] = ed->txt;
    dkim::Verifier v(z);
    auto message = [](const std::string& eol) {
        mail::Message m;
        m.feed_header("From", " a@example.com");
        m.feed_header("Subject", " folded" + eol + "\tonce" + eol + " and twice");
        m.feed_header("To", eol + " b@example.org");
        m.feed_header("Cc", " c@example.org," + eol + eol + " d@example.org");
        m.feed_body("hello\r\n");
        return m;
    };
    auto tag = [](const std::string& sig, const std::string& name) {
        size_t p = sig.find(name + "=", sig.find("bh=") + 3);
        if (name == "t") p = sig.find("t=");
        std::string rest = sig.substr(p + name.size() + 1);
        return rest.substr(0, rest.find(';'));
    };
    // Relaxed (the default): each form verifies.  Simple hashes the line
    // ends as they are, so a doubled or missing CR changes b=: the two
    // forms must give the same b= (Ed25519 is deterministic) for the same t=.
    for (std::string canon : {"relaxed/relaxed", "simple/simple"}) {
        INFO(canon);
        auto cfg = config::load_string("[dkim]\ncanonicalization = \"" + canon +
                                           "\"\n[[domain]]\nname = \"example.com\"\n"
                                           "dkim = [ { selector = \"e1\", key = \"" +
                                           key + "\" } ]\n",
                                       "t.toml");
        REQUIRE(cfg.ok());
        auto ks = dkim::KeyStore::load(*cfg);
        REQUIRE(ks.ok());
        auto signer = dkim::Signer::create(*cfg);
        REQUIRE(signer.ok());
        for (int attempt = 0; attempt < 3; ++attempt) {
            std::vector<std::string> sigs;
            for (std::string eol : {"\n", "\r\n"}) {
                INFO("line end " << (eol == "\n" ? "LF" : "CRLF"));
                mail::Message m = message(eol);
                auto s = (*signer)->sign(m, *ks->select("example.com", ""));
                REQUIRE(s.ok());
                REQUIRE(s->size() == 1);
                CHECK((*s)[0].find('\r') == std::string::npos);
                if (canon == "relaxed/relaxed") {
                    m.insert_header(0, "DKIM-Signature", (*s)[0]);
                    auto out = v.verify(m);
                    REQUIRE(out.signatures.size() == 1);
                    CHECK(out.signatures[0].result == "pass");
                }
                sigs.push_back((*s)[0]);
            }
            if (tag(sigs[0], "t") != tag(sigs[1], "t")) continue;  // a second ticked between them
            CHECK(tag(sigs[0], "b") == tag(sigs[1], "b"));
            break;
        }
    }
}

namespace {

// A configuration with one domain and the given keys (selector, path).
Result<config::Config> sign_config(const std::string& canon, const std::string& signer,
                                   const std::vector<std::pair<std::string, std::string>>& keys) {
    std::string toml = "[dkim]\nmin_rsa_bits = 1024\ncanonicalization = \"" + canon + "\"\nsigner = \"" + signer +
                       "\"\n[[domain]]\nname = \"example.com\"\ndkim = [ ";
    for (size_t i = 0; i < keys.size(); ++i)
        toml +=
            (i ? ", " : "") + std::string("{ selector = \"") + keys[i].first + "\", key = \"" + keys[i].second + "\" }";
    return config::load_string(toml + " ]\n", "t.toml");
}

// Random header fields and bodies of the shapes that trip canonicalisers:
// name case, WSP runs and tabs, folds with bare LF or CRLF, repeated and
// absent signed fields, trailing empty and WSP-only lines, long lines.
struct Corpus {
    std::mt19937 rng;
    explicit Corpus(unsigned seed) : rng(seed) {}
    // A value without leading WSP was made ("Subject:x"): the in-process
    // verifier feeds libopendkim "Subject: x" (verifier.cpp adds the space),
    // so it cannot judge such a message under simple canonicalisation.
    bool bare = false;
    size_t pick(size_t n) { return rng() % n; }
    std::string recase(std::string s) {
        for (char& c : s)
            if (pick(4) == 0)
                c = static_cast<char>(std::isupper(static_cast<unsigned char>(c)) ? std::tolower(c) : std::toupper(c));
        return s;
    }
    std::string wsp() {
        static const char* runs[] = {" ", " ", " ", "\t", "  ", " \t ", "\t\t"};
        return runs[pick(7)];
    }
    std::string value() {
        static const char* words[] = {"alpha", "b@example.com", "<id@x>", "=?utf-8?q?caf=C3=A9?=", "x", ";", "\"q\""};
        std::string v = pick(8) ? " " : (pick(2) ? "" : "\t ");
        if (v.empty()) bare = true;
        size_t n = 1 + pick(6);
        for (size_t i = 0; i < n; ++i) {
            v += words[pick(7)];
            if (i + 1 < n) {
                if (pick(5) == 0)
                    v += std::string(pick(2) ? "\n" : "\r\n") + (pick(2) ? "\t" : " ");
                else
                    v += wsp();
            }
        }
        if (pick(6) == 0) v += wsp();
        return v;
    }
    void headers(mail::Message& m) {
        static const char* names[] = {"To",         "Cc",       "Subject",          "Date",
                                      "Message-ID", "Received", "MIME-Version",     "Content-Type",
                                      "X-Mailer",   "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post",
                                      "From"};
        m.feed_header(recase("From"), value());
        size_t n = pick(12);
        for (size_t i = 0; i < n; ++i) m.feed_header(recase(names[pick(13)]), value());
    }
    std::string body(size_t target) {
        std::string b;
        while (b.size() < target) {
            size_t kind = pick(10);
            if (kind == 0) {
                b += "\r\n";
            } else if (kind == 1) {
                b += wsp() + "\r\n";
            } else if (kind == 2) {
                b += std::string(900 + pick(300), 'L') + "\r\n";  // long line
            } else {
                size_t words = pick(12);
                for (size_t i = 0; i < words; ++i) b += (pick(3) ? "word" : "w") + wsp();
                b += pick(3) ? "end\r\n" : "\r\n";
            }
        }
        for (size_t i = pick(4); i > 0; --i) b += pick(2) ? "\r\n" : " \t\r\n";  // trailing empty lines
        return b;
    }
};

}  // namespace

TEST_CASE("native signatures are byte-identical to libopendkim's", "[dkim][native]") {
    // RSA PKCS#1 v1.5 and Ed25519 are deterministic: with the same t= the
    // whole header (tags, order, folding, bh=, h=, b=) must match.
    std::string dir = tmpdir();
    auto r1 = dkim::generate_key("rsa", 1024);
    auto r2 = dkim::generate_key("rsa", 2048);
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(r1.ok());
    REQUIRE(r2.ok());
    REQUIRE(ed.ok());
    std::vector<std::pair<std::string, std::string>> keys = {{"r1", write_key(dir, "r1.pem", r1->pem, 0600)},
                                                             {"rsa2048", write_key(dir, "r2.pem", r2->pem, 0600)},
                                                             {"e1", write_key(dir, "e.pem", ed->pem, 0600)}};
    auto z = std::make_shared<WireTxt>();
    z->txt["r1._domainkey.example.com"] = r1->txt;
    z->txt["rsa2048._domainkey.example.com"] = r2->txt;
    z->txt["e1._domainkey.example.com"] = ed->txt;
    dkim::Verifier v(z);
    int compared = 0, ed25519_simple_bug = 0;
    for (std::string canon : {"relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"}) {
        INFO(canon);
        auto ncfg = sign_config(canon, "native", keys);
        auto ocfg = sign_config(canon, "opendkim", keys);
        REQUIRE(ncfg.ok());
        REQUIRE(ocfg.ok());
        auto ks = dkim::KeyStore::load(*ncfg);
        REQUIRE(ks.ok());
        auto native = dkim::Signer::create(*ncfg);
        auto opendkim = dkim::Signer::create(*ocfg);
        REQUIRE(native.ok());
        REQUIRE(opendkim.ok());
        (*native)->fix_time(1700000000);
        (*opendkim)->fix_time(1700000000);
        const dkim::DomainKeys* dk = ks->select("example.com", "");
        REQUIRE(dk);
        Corpus gen(std::hash<std::string>{}(canon));
        for (size_t size : {size_t{0}, size_t{2}, size_t{2048}, size_t{2048}, size_t{2048}, size_t{200000}}) {
            for (int round = 0; round < (size > 100000 ? 2 : 12); ++round) {
                mail::Message m;
                gen.bare = false;
                gen.headers(m);
                const bool verifiable = !gen.bare || canon.rfind("relaxed/", 0) == 0;
                std::string body = size == 0 ? std::string() : size == 2 ? std::string("\r\n") : gen.body(size);
                for (size_t off = 0; off < body.size();) {
                    size_t n = 1 + gen.pick(70000);
                    m.feed_body(std::string_view(body).substr(off, n));
                    off += n;
                }
                auto a = (*native)->sign(m, *dk);
                auto b = (*opendkim)->sign(m, *dk);
                REQUIRE(a.ok());
                REQUIRE(b.ok());
                REQUIRE(a->size() == 3);
                // An independent check: libopendkim's verifier ("pass" per key).
                auto verify = [&](const std::vector<std::string>& sigs) {
                    mail::Message signed_m = m;
                    for (auto& s : sigs) signed_m.insert_header(0, "DKIM-Signature", s);
                    auto out = v.verify(signed_m);
                    std::map<std::string, std::string> res;
                    for (auto& s : out.signatures) res[s.selector] = s.result;
                    return res;
                };
                if (round == 0 && verifiable)
                    for (auto& [sel, res] : verify(*a)) {
                        INFO("native signature " << sel);
                        CHECK(res == "pass");
                    }
                for (size_t i = 0; i < 3; ++i) {
                    INFO("message headers: " << [&] {
                        std::string s;
                        for (auto& h : m.headers()) s += h.name + ":" + h.value + "|";
                        return s;
                    }());
                    INFO("native:\n" << (*a)[i] << "\nlibopendkim:\n" << (*b)[i]);
                    if ((*a)[i] != (*b)[i] && i == 2 && canon.rfind("simple/", 0) == 0) {
                        // libopendkim 2.11 hashes an Ed25519 signature's own
                        // header with "b=" on the h= line when it fits there
                        // (it forces the line break before b= for RSA keys
                        // only), then emits b= on a new line: with simple
                        // header canonicalisation the result does not verify.
                        // The native signer hashes the layout it emits.
                        if (verifiable) {
                            auto nat = verify(*a), ref = verify(*b);
                            CHECK(nat["e1"] == "pass");
                            CHECK(ref["e1"] == "fail");
                            CHECK(ref["r1"] == "pass");
                        }
                        ++ed25519_simple_bug;
                        continue;
                    }
                    REQUIRE((*a)[i] == (*b)[i]);
                    ++compared;
                }
            }
        }
    }
    INFO(ed25519_simple_bug << " Ed25519 simple signatures of libopendkim do not verify");
    CHECK(compared + ed25519_simple_bug == 4 * 62 * 3);
    CHECK(ed25519_simple_bug <= 2 * 62);  // only Ed25519 with simple header canonicalisation
}

TEST_CASE("native signatures: an added From or List-Unsubscribe breaks them", "[dkim][native]") {
    std::string dir = tmpdir();
    auto ed = dkim::generate_key("ed25519", 0);
    auto rsa = dkim::generate_key("rsa", 1024);
    REQUIRE(ed.ok());
    REQUIRE(rsa.ok());
    auto cfg =
        sign_config("relaxed/relaxed", "native",
                    {{"e1", write_key(dir, "e.pem", ed->pem, 0600)}, {"r1", write_key(dir, "r.pem", rsa->pem, 0600)}});
    REQUIRE(cfg.ok());
    auto ks = dkim::KeyStore::load(*cfg);
    REQUIRE(ks.ok());
    auto signer = dkim::Signer::create(*cfg);
    REQUIRE(signer.ok());
    auto z = std::make_shared<WireTxt>();
    z->txt["e1._domainkey.example.com"] = ed->txt;
    z->txt["r1._domainkey.example.com"] = rsa->txt;
    dkim::Verifier v(z);
    for (bool with_unsub : {true, false}) {
        INFO((with_unsub ? "message with List-Unsubscribe" : "message without List-Unsubscribe"));
        mail::Message m;
        m.feed_header("From", " a@example.com");
        m.feed_header("To", " b@example.org");
        m.feed_header("Subject", " oversigned");
        if (with_unsub) {
            m.feed_header("List-Unsubscribe", " <https://example.com/u>");
            m.feed_header("List-Unsubscribe-Post", " List-Unsubscribe=One-Click");
        }
        m.feed_body("hello\r\n");
        auto sigs = (*signer)->sign(m, *ks->select("example.com", ""));
        REQUIRE(sigs.ok());
        for (auto& s : *sigs) m.insert_header(0, "DKIM-Signature", s);
        auto results = [&](const mail::Message& msg) {
            std::vector<std::string> r;
            for (auto& s : v.verify(msg).signatures) r.push_back(s.result);
            return r;
        };
        CHECK(results(m) == std::vector<std::string>{"pass", "pass"});
        for (std::string name : {"From", "List-Unsubscribe", "List-Unsubscribe-Post"}) {
            for (bool top : {true, false}) {
                INFO("a second " << name << (top ? " at the top" : " at the bottom"));
                mail::Message t = m;
                if (top)
                    t.insert_header(0, name, " <https://evil.example/x>");
                else
                    t.add_header(name, " <https://evil.example/x>");
                CHECK(results(t) == std::vector<std::string>{"fail", "fail"});
            }
        }
    }
}

TEST_CASE("native signer: bodies libopendkim treats otherwise follow RFC 6376", "[dkim][native]") {
    // Measured with libopendkim 2.11 (Debian 12): its relaxed body
    // canonicalisation refuses a body whose last line lacks CRLF ("CRLF at
    // end of body missing", a tempfail) and drops a bare CR ("a\rb" hashes
    // as "ab"); its simple one hashes "a\nb\r\n" as "a\nb\r".  Postfix hands
    // milters CRLF lines, so these arise only from unusual clients.  The
    // native signer hashes what RFC 6376 3.4.3/3.4.4 define -- bare CR and
    // LF are octets of the line, a missing final CRLF is added -- which is
    // what an independent verifier computes.
    std::string dir = tmpdir();
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(ed.ok());
    std::string key = write_key(dir, "e.pem", ed->pem, 0600);
    auto sha = [](std::string_view s) {
        unsigned char d[32];
        REQUIRE(EVP_Digest(s.data(), s.size(), d, nullptr, EVP_sha256(), nullptr) == 1);
        return crypto::base64_encode(std::string_view(reinterpret_cast<char*>(d), 32));
    };
    struct Row {
        std::string canon, body, hashed;
    };
    for (auto& r : std::vector<Row>{{"relaxed/relaxed", "x", "x\r\n"},
                                    {"relaxed/relaxed", "a\rb\r\n", "a\rb\r\n"},
                                    {"relaxed/relaxed", "a\nb \r\n", "a\nb\r\n"},
                                    {"simple/simple", "a\nb\r\n", "a\nb\r\n"},
                                    {"simple/simple", "x", "x\r\n"},
                                    {"simple/simple", "", "\r\n"},
                                    {"relaxed/relaxed", "", ""}}) {
        INFO(r.canon << " body [" << r.body << "]");
        auto cfg = sign_config(r.canon, "native", {{"e1", key}});
        REQUIRE(cfg.ok());
        auto ks = dkim::KeyStore::load(*cfg);
        REQUIRE(ks.ok());
        auto signer = dkim::Signer::create(*cfg);
        REQUIRE(signer.ok());
        mail::Message m;
        m.feed_header("From", " a@example.com");
        m.feed_body(r.body);
        auto sigs = (*signer)->sign(m, *ks->select("example.com", ""));
        REQUIRE(sigs.ok());
        std::string flat;
        for (char c : (*sigs)[0])
            if (c != '\n' && c != '\t') flat += c;
        CHECK(flat.find("bh=" + sha(r.hashed) + ";") != std::string::npos);
    }
}

TEST_CASE("native signer: a key without its parsed form is an internal error", "[dkim][native]") {
    std::string dir = tmpdir();
    auto ed = dkim::generate_key("ed25519", 0);
    REQUIRE(ed.ok());
    auto cfg = sign_config("relaxed/relaxed", "native", {{"e1", write_key(dir, "e.pem", ed->pem, 0600)}});
    REQUIRE(cfg.ok());
    auto ks = dkim::KeyStore::load(*cfg);
    REQUIRE(ks.ok());
    auto signer = dkim::Signer::create(*cfg);
    REQUIRE(signer.ok());
    dkim::DomainKeys dk = *ks->select("example.com", "");
    dk.keys[0].cached.reset();
    mail::Message m;
    m.feed_header("From", " a@example.com");
    m.feed_body("x\r\n");
    auto sigs = (*signer)->sign(m, dk);
    REQUIRE_FALSE(sigs.ok());  // never an unsigned pass
    CHECK(sigs.error().what.find("selector e1") != std::string::npos);
}
