// env.hpp -- the one LMDB environment of a process, and its transactions.
//
// Env::open() opens (or creates) the store directory once per process and
// returns the shared handle; a second open of the same path returns the same
// Env, because LMDB forbids opening one environment twice in a process.  It
// clears stale reader slots (mdb_reader_check), creates every table declared
// in schema.hpp and refuses a store whose schema version differs.
//
// Transactions are RAII: a Txn that is neither committed nor aborted aborts
// in its destructor.  Errors inside a transaction are sticky: get/put/del
// record the first failure, later calls do nothing, and commit() returns it.
// Env::update() runs a write transaction and retries it after growing the
// map when LMDB answers MDB_MAP_FULL; the callback may therefore run more
// than once and must only produce results through the transaction (reset its
// outputs at its start).
//
// The environment is opened with MDB_NOTLS, so a read transaction is tied to
// its Txn object, not to the thread.  Keep transactions short: never hold
// one across a network call or a child process, and never open a second one
// on the same thread while one is alive (map growth waits for all of them).
//
// Thread safety: Env is shared by all threads.  One Txn (and its Cursors) is
// used by one thread at a time; a write Txn must end on the thread that
// began it.  Several processes (sesmilter and sesctl) may use the store at
// the same time; LMDB serialises writers across processes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/result.hpp"

struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

namespace ses::store {

// Durability of commits.  `periodic` is the default: an fsync per commit
// costs milliseconds on ordinary disks (6 ms measured here), which would cap
// the milter at a few hundred decisions a second, all serialised behind the
// one LMDB writer.  With `periodic` a commit is a write() into the page
// cache: it survives a crash or kill -9 of sesmilter (the kernel still has
// it) and only an OS crash or power loss can undo the last `sync_interval`.
enum class Sync {
    full,      // fsync at every commit
    periodic,  // MDB_NOSYNC plus mdb_env_sync every `sync_interval` seconds
};

struct Options {
    std::string path = "/var/lib/sesmilter";  // a directory
    uint64_t map_size = 64ull << 20;          // initial map; grows on MDB_MAP_FULL
    uint64_t max_map_size = 64ull << 30;      // growth stops here (error "store full")
    unsigned max_readers = 126;
    Sync sync = Sync::periodic;
    int64_t sync_interval = 1;  // seconds, with Sync::periodic
};

bool parse_sync(std::string_view s, Sync& out);  // "full" | "periodic"

struct Table {
    unsigned dbi = 0;
};

class Env;
class Cursor;

// A step outside LMDB that belongs to a write transaction and runs just
// before it commits, with the transaction still open: the fleet's shared
// statistics counters, collected over the whole transaction and sent in one
// call.  Its failure fails the transaction (nothing is committed), so the
// caller retries the whole update.  It may run more than once for the same
// update (Env::update retries after growing the map), so it must be
// idempotent.
class PreCommit {
public:
    virtual ~PreCommit() = default;
    virtual Status run() = 0;
};

class Txn {
public:
    Txn(Txn&& o) noexcept;
    Txn& operator=(Txn&&) = delete;
    Txn(const Txn&) = delete;
    ~Txn();

    bool writable() const { return write_; }
    bool active() const { return txn_ != nullptr; }

    // The value stays valid until the transaction ends or, in a write
    // transaction, until the next put/del.
    std::optional<std::string_view> get(Table t, std::string_view key);
    bool put(Table t, std::string_view key, std::string_view value);
    bool del(Table t, std::string_view key);  // false if absent (or on error)

    Status commit();
    void abort();
    Status status() const;  // the first error so far
    bool map_full() const { return map_full_; }
    // Makes the transaction fail with `e` (unless it failed before): for a
    // step outside LMDB that belongs to it (the fleet's shared state), so
    // that the caller's one status check covers it and a write aborts.
    void fail(Error e) {
        if (!error_) error_ = std::move(e);
    }
    // The pre-commit step `owner` registered in this transaction, or null;
    // at most one per owner, run in the order registered.  Dropped unrun
    // when the transaction aborts or has failed.
    PreCommit* pre_commit(const void* owner) const;
    PreCommit& add_pre_commit(const void* owner, std::unique_ptr<PreCommit> step);

private:
    friend class Env;
    friend class Cursor;
    Txn(Env* env, MDB_txn* txn, bool write, std::shared_lock<std::shared_mutex> lock);
    void fail(int rc, const char* op);
    void end();

    Env* env_;
    MDB_txn* txn_;
    bool write_;
    bool map_full_ = false;
    std::optional<Error> error_;
    std::vector<Cursor*> cursors_;
    std::vector<std::pair<const void*, std::unique_ptr<PreCommit>>> pre_commit_;
    std::shared_lock<std::shared_mutex> lock_;
};

// A position in one table.  Lives inside its Txn; the Txn closes it when it
// ends.  Not movable.
class Cursor {
public:
    Cursor(Txn& txn, Table t);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;

    bool seek(std::string_view key);  // first entry with key >= `key`
    bool first();
    bool last();
    bool next();
    bool prev();
    bool valid() const { return valid_; }
    std::string_view key() const { return key_; }
    std::string_view value() const { return value_; }
    bool del();  // delete the current entry (write transactions)

private:
    friend class Txn;
    bool step(int op, std::string_view seek_key = {});
    Txn* txn_;
    MDB_cursor* cur_ = nullptr;
    bool valid_ = false;
    std::string_view key_, value_;
};

class Env {
public:
    static Result<std::shared_ptr<Env>> open(const Options& opts);
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    // A declared table (schema.hpp).  An undeclared name is a programming
    // error and aborts.
    Table table(std::string_view name) const;

    Result<Txn> begin_read();
    Result<Txn> begin_write();

    // One write transaction; fn's error aborts it, success commits it.
    Status update(const std::function<Status(Txn&)>& fn);
    // One read transaction.
    Status view(const std::function<Status(Txn&)>& fn);

    int reader_check();  // stale reader slots cleared
    Status sync();
    uint64_t map_size() const;
    const std::string& path() const { return opts_.path; }

private:
    explicit Env(Options opts) : opts_(std::move(opts)) {}
    Result<Txn> begin(bool write);
    Status grow();
    void adopt_size();
    void flusher();
    friend class Txn;

    Options opts_;
    MDB_env* env_ = nullptr;
    std::map<std::string, unsigned, std::less<>> dbis_;
    mutable std::shared_mutex resize_mu_;
    std::mutex flush_mu_;
    std::condition_variable flush_cv_;
    bool stopping_ = false;
    std::thread flush_thread_;
};

}  // namespace ses::store
