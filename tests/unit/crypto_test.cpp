// crypto_test.cpp -- src/crypto against published vectors: RFC 4231
// (HMAC-SHA256), FIPS 180-2 (SHA-256), RFC 4648 section 10 (base64,
// base32, base16).
#include <catch2/catch.hpp>

#include <set>

#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"

using namespace ses;

namespace {
std::string unhex(std::string_view h) {
    auto r = crypto::hex_decode(h);
    REQUIRE(r);
    return *r;
}
}  // namespace

TEST_CASE("SHA-256 known answers", "[crypto]") {
    CHECK(crypto::hex_encode(crypto::sha256("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(crypto::hex_encode(crypto::sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(crypto::hex_encode(crypto::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("HMAC-SHA256: RFC 4231 test cases", "[crypto]") {
    struct Case {
        const char* name;
        std::string key, data;
        const char* mac;
    };
    const Case cases[] = {
        {"1", std::string(20, '\x0b'), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"2", "Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"3", std::string(20, '\xaa'), std::string(50, '\xdd'),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {"4", unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {"6", std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {"7", std::string(131, '\xaa'),
         "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
         "hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (auto& c : cases) {
        INFO("RFC 4231 test case " << c.name);
        CHECK(crypto::hex_encode(crypto::hmac_sha256(c.key, c.data)) == c.mac);
    }
    // Test case 5: output truncated to 128 bits.
    CHECK(crypto::hex_encode(crypto::hmac_sha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32) ==
          "a3b6167473100ee06e0c796c2955552b");
    CHECK(crypto::hmac_sha256("", "").size() == 32);
}

TEST_CASE("base64, base32, base16: RFC 4648 section 10", "[crypto]") {
    const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char* b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char* b32[] = {"", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
    const char* b16[] = {"", "66", "666F", "666F6F", "666F6F62", "666F6F6261", "666F6F626172"};
    for (int i = 0; i < 7; ++i) {
        INFO(in[i]);
        CHECK(crypto::base64_encode(in[i]) == b64[i]);
        CHECK(crypto::base64_decode(b64[i]) == std::optional<std::string>(in[i]));
        CHECK(crypto::base32_encode(in[i]) == b32[i]);
        CHECK(crypto::base32_decode(b32[i]) == std::optional<std::string>(in[i]));
        CHECK(crypto::hex_decode(b16[i]) == std::optional<std::string>(in[i]));
        std::string lower16 = b16[i];
        for (auto& c : lower16) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(crypto::hex_encode(in[i]) == lower16);
        // Unpadded forms (tokens) decode too.
        std::string b32u = b32[i];
        b32u.erase(b32u.find_last_not_of('=') + 1);
        CHECK(crypto::base32_encode(in[i], false) == b32u);
        CHECK(crypto::base32_decode(b32u) == std::optional<std::string>(in[i]));
    }
    CHECK(crypto::base32_decode("mzxw6ytboi") == std::optional<std::string>("foobar"));
    CHECK(crypto::base64url_encode("\xfb\xff") == "-_8");
    CHECK(crypto::base64url_decode("-_8") == std::optional<std::string>("\xfb\xff"));
    CHECK(crypto::base64_encode("\xfb\xff") == "+/8=");
    CHECK(crypto::base64_decode("Zm9v\r\n YmFy") == std::optional<std::string>("foobar"));  // folded
}

TEST_CASE("decoders refuse what is not their alphabet or padding", "[crypto]") {
    for (const char* bad : {"Zm9v!", "Z", "Zm9", "Zg=", "Zg===", "Z===", "Zg==Zg==", "=Zg=", "Zm9v-_"})
        CHECK_FALSE(crypto::base64_decode(bad));
    for (const char* bad : {"M", "MY=", "MY======MY======", "MZXW1===", "MZX", "MZXW6Y"})
        CHECK_FALSE(crypto::base32_decode(bad));
    CHECK_FALSE(crypto::base32_decode("MZ"));  // non-zero trailing bits
    for (const char* bad : {"6", "6g", "666", " 66"}) CHECK_FALSE(crypto::hex_decode(bad));
    CHECK_FALSE(crypto::base64url_decode("+/8"));
}

TEST_CASE("constant-time compare and random bytes", "[crypto]") {
    CHECK(crypto::equal_constant_time("", ""));
    CHECK(crypto::equal_constant_time("abc", "abc"));
    CHECK_FALSE(crypto::equal_constant_time("abc", "abd"));
    CHECK_FALSE(crypto::equal_constant_time("abc", "abcd"));
    CHECK(crypto::random_bytes(0).empty());
    std::set<std::string> seen;
    for (int i = 0; i < 64; ++i) {
        auto r = crypto::random_bytes(16);
        CHECK(r.size() == 16);
        seen.insert(r);
    }
    CHECK(seen.size() == 64);
}
