// temp_records.hpp -- a private LMDB store under the temp directory with the
// message records open on it, for one test; removed when the test ends.
// Tests of the parts built on the records (suppression, tracking) derive
// from it and add their own handles, which go before the store does.
#pragma once

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "records/message_store.hpp"
#include "store/env.hpp"

namespace ses::test {

struct TempRecords {
    std::filesystem::path path;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<records::MessageStore> ms;

    explicit TempRecords(const std::string& prefix) {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-" + prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
        store::Options o;
        o.path = path.string();
        o.map_size = 1 << 20;
        auto e = store::Env::open(o);
        REQUIRE(e);
        env = *e;
        auto m = records::MessageStore::open(env, {});
        REQUIRE(m);
        ms = *m;
    }
    ~TempRecords() {
        ms.reset();
        env.reset();
        std::filesystem::remove_all(path);
    }
    TempRecords(const TempRecords&) = delete;
    TempRecords& operator=(const TempRecords&) = delete;
};

}  // namespace ses::test
