// store_test.cpp -- key layouts, the LMDB wrapper, map growth, schema check.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "store/codec.hpp"
#include "store/env.hpp"
#include "store/schema.hpp"

using namespace ses;
using namespace ses::store;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-store-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

std::shared_ptr<Env> open_env(const TempDir& d, uint64_t map_size = 1 << 20) {
    Options o;
    o.path = d.path.string();
    o.map_size = map_size;
    auto e = Env::open(o);
    INFO((e ? "" : e.error().what));
    REQUIRE(e);
    return *e;
}

}  // namespace

TEST_CASE("big-endian keys sort numerically, signed values too", "[store]") {
    std::vector<int64_t> times = {-5000000000, -1, 0, 1, 255, 256, 65536, 1700000000, 4102444800};
    for (size_t i = 1; i < times.size(); ++i) {
        INFO(times[i - 1] << " < " << times[i]);
        CHECK(KeyBuilder().i64(times[i - 1]).str() < KeyBuilder().i64(times[i]).str());
        CHECK(i64_unkey(i64_key(times[i])) == times[i]);
    }
    std::vector<int32_t> days = {-3, -1, 0, 1, 20000, 20001, 70000};
    for (size_t i = 1; i < days.size(); ++i)
        CHECK(KeyBuilder().i32(days[i - 1]).str() < KeyBuilder().i32(days[i]).str());
    // A NUL after text keeps "a"+day apart from "ab"+day.
    CHECK(KeyBuilder().text0("a").i32(99999).str() < KeyBuilder().text0("ab").i32(0).str());
    CHECK(get_u32be(KeyBuilder().u32(0x01020304).str()) == 0x01020304u);
    CHECK(get_u64be(KeyBuilder().u64(0x0102030405060708ull).str()) == 0x0102030405060708ull);
}

TEST_CASE("values round-trip and short input is detected", "[store]") {
    std::string v = Writer().u8(1).u32(7).u64(1ull << 40).i64(-9).str("héllo").take();
    Reader r(v);
    CHECK(r.u8() == 1);
    CHECK(r.u32() == 7);
    CHECK(r.u64() == 1ull << 40);
    CHECK(r.i64() == -9);
    CHECK(r.str() == "héllo");
    CHECK(r.good());
    CHECK(r.at_end());
    Reader shorter(std::string_view(v).substr(0, v.size() - 2));
    shorter.u8();
    shorter.u32();
    shorter.u64();
    shorter.i64();
    CHECK(shorter.str().empty());
    CHECK_FALSE(shorter.good());
    Reader huge(Writer().u32(0xffffffff).take());
    CHECK(huge.str().empty());
    CHECK_FALSE(huge.good());
}

TEST_CASE("transactions: commit, abort by destructor, cursors, sticky errors", "[store]") {
    TempDir d;
    auto env = open_env(d);
    Table t = env->table(table::held_qid);
    REQUIRE(env->update([&](Txn& txn) {
        txn.put(t, "b", "2");
        txn.put(t, "a", "1");
        txn.put(t, "c", "3");
        return txn.status();
    }));
    {
        auto w = env->begin_write();
        REQUIRE(w);
        w->put(t, "zz", "never");
    }  // aborted
    auto r = env->begin_read();
    REQUIRE(r);
    CHECK(r->get(t, "a") == std::optional<std::string_view>("1"));
    CHECK_FALSE(r->get(t, "zz"));
    {
        Cursor c(*r, t);
        std::string keys;
        for (bool ok = c.seek("b"); ok; ok = c.next()) keys += std::string(c.key());
        CHECK(keys == "bc");
        CHECK(c.last());
        CHECK(c.key() == "c");
    }
    CHECK(r->commit());

    // An error makes the transaction fail as a whole.
    Status s = env->update([&](Txn& txn) {
        txn.put(t, "d", "4");
        txn.put(t, std::string(600, 'k'), "too long a key");  // > MDB_MAXKEYSIZE
        txn.put(t, "e", "5");
        return txn.status();
    });
    CHECK_FALSE(s);
    CHECK(env->view([&](Txn& txn) {
        CHECK_FALSE(txn.get(t, "d"));
        return txn.status();
    }));

    // A cursor deletes in a write transaction; one left open at commit is
    // closed by the transaction.
    {
        auto w = env->begin_write();
        REQUIRE(w);
        Cursor c(*w, t);
        REQUIRE(c.seek("b"));
        CHECK(c.del());
        CHECK(w->commit());
        CHECK_FALSE(c.valid());
    }
    CHECK(env->view([&](Txn& txn) {
        CHECK_FALSE(txn.get(t, "b"));
        CHECK(txn.get(t, "c"));
        return txn.status();
    }));
}

TEST_CASE("one environment per path and process; schema version is checked", "[store]") {
    TempDir d;
    auto a = open_env(d);
    auto b = open_env(d);
    CHECK(a.get() == b.get());
    CHECK(a->reader_check() >= 0);
    REQUIRE(a->update([&](Txn& txn) {
        auto v = txn.get(a->table(table::meta), "schema_version");
        REQUIRE(v);
        CHECK(get_u32be(*v) == kSchemaVersion);
        std::string other;
        put_u32be(other, kSchemaVersion + 1);
        txn.put(a->table(table::meta), "schema_version", other);
        return txn.status();
    }));
    a.reset();
    b.reset();
    Options o;
    o.path = d.path.string();
    auto again = Env::open(o);
    REQUIRE_FALSE(again);
    CHECK_THAT(again.error().what, Catch::Contains("schema version"));
}

TEST_CASE("the map grows on MDB_MAP_FULL", "[store]") {
    TempDir d;
    auto env = open_env(d, 256 * 1024);
    uint64_t before = env->map_size();
    Table t = env->table(table::warmup_day);
    std::string value(4000, 'v');
    // Many small transactions, then one big one.
    for (int i = 0; i < 100; ++i)
        REQUIRE(env->update([&](Txn& txn) {
            txn.put(t, KeyBuilder().u32(static_cast<uint32_t>(i)).str(), value);
            return txn.status();
        }));
    REQUIRE(env->update([&](Txn& txn) {
        for (int i = 100; i < 1500; ++i) txn.put(t, KeyBuilder().u32(static_cast<uint32_t>(i)).str(), value);
        return txn.status();
    }));
    CHECK(env->map_size() > before);
    CHECK(env->view([&](Txn& txn) {
        Cursor c(txn, t);
        int n = 0;
        for (bool ok = c.first(); ok; ok = c.next()) ++n;
        CHECK(n == 1500);
        return txn.status();
    }));
}

TEST_CASE("concurrent write transactions never lose an update", "[store]") {
    TempDir d;
    auto env = open_env(d);
    Table t = env->table(table::meta);
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&] {
            for (int k = 0; k < 200; ++k) {
                Status s = env->update([&](Txn& txn) {
                    auto v = txn.get(t, "counter");
                    uint64_t n = v ? get_u64be(*v) : 0;
                    std::string out;
                    put_u64be(out, n + 1);
                    txn.put(t, "counter", out);
                    return txn.status();
                });
                if (!s) FAIL(s.error().what);
                // Readers run alongside (MDB_NOTLS: the slot follows the txn).
                (void)env->view([&](Txn& txn) { return txn.status(); });
            }
        });
    for (auto& th : ts) th.join();
    CHECK(env->view([&](Txn& txn) {
        CHECK(get_u64be(*txn.get(t, "counter")) == 1600);
        return txn.status();
    }));
}

TEST_CASE("both sync modes open and flush", "[store]") {
    TempDir d;
    Options o;
    o.path = d.path.string();
    o.sync = Sync::full;
    auto env = Env::open(o);
    REQUIRE(env);
    REQUIRE((*env)->update([&](Txn& txn) {
        txn.put((*env)->table(table::meta), "x", "y");
        return txn.status();
    }));
    CHECK((*env)->sync());
    Sync s;
    CHECK(parse_sync("periodic", s));
    CHECK(s == Sync::periodic);
    CHECK_FALSE(parse_sync("sometimes", s));
}
