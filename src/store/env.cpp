// env.cpp -- see env.hpp.
#include "store/env.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/log.hpp"

namespace ses::store {

namespace {

MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

Error lmdb_error(const char* op, int rc) {
    return internal_error(std::string("store: ") + op + ": " + mdb_strerror(rc));
}

// Open environments of this process, by canonical path.
std::mutex g_open_mu;
std::map<std::string, std::weak_ptr<Env>>& open_envs() {
    static std::map<std::string, std::weak_ptr<Env>> m;
    return m;
}

}  // namespace

bool parse_sync(std::string_view s, Sync& out) {
    if (s == "full")
        out = Sync::full;
    else if (s == "periodic")
        out = Sync::periodic;
    else
        return false;
    return true;
}

// ---- Txn ---------------------------------------------------------------

Txn::Txn(Env* env, MDB_txn* txn, bool write, std::shared_lock<std::shared_mutex> lock)
    : env_(env), txn_(txn), write_(write), lock_(std::move(lock)) {}

Txn::Txn(Txn&& o) noexcept
    : env_(o.env_),
      txn_(o.txn_),
      write_(o.write_),
      map_full_(o.map_full_),
      error_(std::move(o.error_)),
      pre_commit_(std::move(o.pre_commit_)),
      lock_(std::move(o.lock_)) {
    // Cursors are never created before a Txn reaches its final place.
    o.txn_ = nullptr;
}

Txn::~Txn() { abort(); }

void Txn::fail(int rc, const char* op) {
    if (rc == MDB_MAP_FULL) map_full_ = true;
    if (!error_) error_ = lmdb_error(op, rc);
}

void Txn::end() {
    for (Cursor* c : cursors_) {
        // Read-only cursors must be closed explicitly; write cursors are
        // freed by LMDB when the transaction ends.
        if (!write_) mdb_cursor_close(c->cur_);
        c->cur_ = nullptr;
        c->valid_ = false;
    }
    cursors_.clear();
    pre_commit_.clear();
    txn_ = nullptr;
    if (lock_.owns_lock()) lock_.unlock();
}

PreCommit* Txn::pre_commit(const void* owner) const {
    for (const auto& [o, step] : pre_commit_)
        if (o == owner) return step.get();
    return nullptr;
}

PreCommit& Txn::add_pre_commit(const void* owner, std::unique_ptr<PreCommit> step) {
    if (!step || pre_commit(owner)) std::abort();  // one step per owner, found again through pre_commit()
    pre_commit_.emplace_back(owner, std::move(step));
    return *pre_commit_.back().second;
}

std::optional<std::string_view> Txn::get(Table t, std::string_view key) {
    if (!txn_ || error_) return std::nullopt;
    MDB_val k = val(key), v;
    int rc = mdb_get(txn_, t.dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) {
        fail(rc, "get");
        return std::nullopt;
    }
    return view(v);
}

bool Txn::put(Table t, std::string_view key, std::string_view value) {
    if (!txn_ || error_) return false;
    MDB_val k = val(key), v = val(value);
    int rc = mdb_put(txn_, t.dbi, &k, &v, 0);
    if (rc) {
        fail(rc, "put");
        return false;
    }
    return true;
}

bool Txn::del(Table t, std::string_view key) {
    if (!txn_ || error_) return false;
    MDB_val k = val(key);
    int rc = mdb_del(txn_, t.dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    if (rc) {
        fail(rc, "del");
        return false;
    }
    return true;
}

Status Txn::commit() {
    if (!txn_) return internal_error("store: commit of an ended transaction");
    for (size_t i = 0; i < pre_commit_.size() && !error_; ++i)
        if (Status s = pre_commit_[i].second->run(); !s) fail(s.error());
    if (error_) {
        abort();
        return *error_;
    }
    // Detach cursors first: mdb_txn_commit frees write cursors, and read
    // cursors must be closed before their transaction ends.
    MDB_txn* t = txn_;
    for (Cursor* c : cursors_) {
        if (!write_) mdb_cursor_close(c->cur_);
        c->cur_ = nullptr;
        c->valid_ = false;
    }
    cursors_.clear();
    int rc = mdb_txn_commit(t);
    end();
    if (rc) {
        fail(rc, "commit");
        return *error_;
    }
    return ok_status();
}

void Txn::abort() {
    if (!txn_) return;
    MDB_txn* t = txn_;
    for (Cursor* c : cursors_) {
        if (!write_) mdb_cursor_close(c->cur_);
        c->cur_ = nullptr;
        c->valid_ = false;
    }
    cursors_.clear();
    mdb_txn_abort(t);
    end();
}

Status Txn::status() const {
    if (error_) return *error_;
    return ok_status();
}

// ---- Cursor ------------------------------------------------------------

Cursor::Cursor(Txn& txn, Table t) : txn_(&txn) {
    if (!txn.txn_ || txn.error_) return;
    int rc = mdb_cursor_open(txn.txn_, t.dbi, &cur_);
    if (rc) {
        txn.fail(rc, "cursor_open");
        cur_ = nullptr;
        return;
    }
    txn.cursors_.push_back(this);
}

Cursor::~Cursor() {
    if (!cur_) return;
    auto& v = txn_->cursors_;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
    mdb_cursor_close(cur_);
}

bool Cursor::step(int op, std::string_view seek_key) {
    valid_ = false;
    if (!cur_ || txn_->error_) return false;
    MDB_val k = val(seek_key), v{0, nullptr};
    int rc = mdb_cursor_get(cur_, &k, &v, static_cast<MDB_cursor_op>(op));
    if (rc == MDB_NOTFOUND) return false;
    if (rc) {
        txn_->fail(rc, "cursor_get");
        return false;
    }
    key_ = view(k);
    value_ = view(v);
    valid_ = true;
    return true;
}

bool Cursor::seek(std::string_view key) { return step(MDB_SET_RANGE, key); }
bool Cursor::first() { return step(MDB_FIRST); }
bool Cursor::last() { return step(MDB_LAST); }
bool Cursor::next() { return step(MDB_NEXT); }
bool Cursor::prev() { return step(MDB_PREV); }

bool Cursor::del() {
    if (!cur_ || !valid_ || txn_->error_) return false;
    int rc = mdb_cursor_del(cur_, 0);
    valid_ = false;
    if (rc) {
        txn_->fail(rc, "cursor_del");
        return false;
    }
    return true;
}

// ---- Env ---------------------------------------------------------------

Result<std::shared_ptr<Env>> Env::open(const Options& opts) {
    std::error_code ec;
    std::filesystem::create_directories(opts.path, ec);
    if (ec) return internal_error("store: cannot create " + opts.path + ": " + ec.message());
    auto canon = std::filesystem::canonical(opts.path, ec);
    if (ec) return internal_error("store: " + opts.path + ": " + ec.message());

    std::lock_guard<std::mutex> g(g_open_mu);
    auto& reg = open_envs();
    if (auto it = reg.find(canon.string()); it != reg.end())
        if (auto e = it->second.lock()) return e;

    std::shared_ptr<Env> env(new Env(opts));
    int rc = mdb_env_create(&env->env_);
    if (rc) return lmdb_error("env_create", rc);
    mdb_env_set_maxdbs(env->env_, 64);
    mdb_env_set_maxreaders(env->env_, opts.max_readers);
    mdb_env_set_mapsize(env->env_, opts.map_size);
    unsigned flags = MDB_NOTLS;
    if (opts.sync == Sync::periodic) flags |= MDB_NOSYNC;
    rc = mdb_env_open(env->env_, canon.c_str(), flags, 0640);
    if (rc) return internal_error("store: cannot open " + opts.path + ": " + mdb_strerror(rc));

    if (int dead = env->reader_check(); dead > 0)
        log::notice("store: cleared " + std::to_string(dead) + " stale reader slot(s) in " + opts.path);

    // Create the tables and check the schema version, growing the map if a
    // tiny initial map cannot even hold that.
    Status st = env->update([&](Txn& txn) -> Status {
        for (const TableDef& t : tables()) {
            unsigned dbi = 0;
            std::string name(t.name);
            int r = mdb_dbi_open(txn.txn_, name.c_str(), MDB_CREATE, &dbi);
            if (r) {
                txn.fail(r, "dbi_open");
                return txn.status();
            }
            env->dbis_[name] = dbi;
        }
        Table meta{env->dbis_[std::string(table::meta)]};
        if (auto v = txn.get(meta, "schema_version")) {
            uint32_t have = get_u32be(*v);
            if (v->size() != 4 || have != kSchemaVersion)
                return internal_error("store: " + opts.path + " has schema version " + std::to_string(have) +
                                      ", this build expects " + std::to_string(kSchemaVersion));
        } else {
            std::string b;
            put_u32be(b, kSchemaVersion);
            txn.put(meta, "schema_version", b);
        }
        return txn.status();
    });
    if (!st) return st.error();

    if (opts.sync == Sync::periodic) env->flush_thread_ = std::thread([e = env.get()] { e->flusher(); });
    reg[canon.string()] = env;
    return env;
}

Env::~Env() {
    if (flush_thread_.joinable()) {
        {
            std::lock_guard<std::mutex> g(flush_mu_);
            stopping_ = true;
        }
        flush_cv_.notify_all();
        flush_thread_.join();
    }
    if (env_) {
        if (opts_.sync == Sync::periodic) mdb_env_sync(env_, 1);
        mdb_env_close(env_);
    }
}

void Env::flusher() {
    std::unique_lock<std::mutex> lk(flush_mu_);
    auto every = std::chrono::seconds(std::max<int64_t>(1, opts_.sync_interval));
    while (!flush_cv_.wait_for(lk, every, [&] { return stopping_; })) {
        if (int rc = mdb_env_sync(env_, 1)) log::warn(std::string("store: sync: ") + mdb_strerror(rc));
    }
}

Table Env::table(std::string_view name) const {
    auto it = dbis_.find(name);
    if (it == dbis_.end()) {
        log::error("store: table " + std::string(name) + " is not declared in schema.cpp");
        std::abort();
    }
    return Table{it->second};
}

Result<Txn> Env::begin(bool write) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::shared_lock<std::shared_mutex> lk(resize_mu_);
        MDB_txn* t = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, write ? 0 : MDB_RDONLY, &t);
        if (rc == 0) return Txn(this, t, write, std::move(lk));
        lk.unlock();
        if (rc == MDB_MAP_RESIZED) {
            adopt_size();  // another process grew the map
            continue;
        }
        if (rc == MDB_READERS_FULL && reader_check() > 0) continue;
        return lmdb_error("txn_begin", rc);
    }
    return internal_error("store: txn_begin: gave up after repeated map resizes");
}

Result<Txn> Env::begin_read() { return begin(false); }
Result<Txn> Env::begin_write() { return begin(true); }

void Env::adopt_size() {
    std::unique_lock<std::shared_mutex> g(resize_mu_);
    mdb_env_set_mapsize(env_, 0);
}

Status Env::grow() {
    std::unique_lock<std::shared_mutex> g(resize_mu_);  // no transaction of ours is alive
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    uint64_t cur = info.me_mapsize;
    if (cur >= opts_.max_map_size) return internal_error("store: full (map size " + std::to_string(cur) + " bytes)");
    uint64_t next = std::min<uint64_t>(std::max<uint64_t>(cur * 2, 1 << 20), opts_.max_map_size);
    int rc = mdb_env_set_mapsize(env_, next);
    if (rc) return lmdb_error("env_set_mapsize", rc);
    log::notice("store: map grown to " + std::to_string(next >> 20) + " MiB");
    return ok_status();
}

Status Env::update(const std::function<Status(Txn&)>& fn) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        auto r = begin_write();
        if (!r) return r.error();
        Txn& txn = *r;
        Status s = fn(txn);
        if (txn.map_full()) {
            txn.abort();
            if (Status g = grow(); !g) return g;
            continue;
        }
        if (!s) return s;  // the destructor aborts
        Status c = txn.commit();
        if (!c && txn.map_full()) {
            if (Status g = grow(); !g) return g;
            continue;
        }
        return c;
    }
    return internal_error("store: write transaction kept filling the map");
}

Status Env::view(const std::function<Status(Txn&)>& fn) {
    auto r = begin_read();
    if (!r) return r.error();
    Status s = fn(*r);
    if (!s) return s;
    return r->status();
}

int Env::reader_check() {
    int dead = 0;
    mdb_reader_check(env_, &dead);
    return dead;
}

Status Env::sync() {
    if (int rc = mdb_env_sync(env_, 1)) return lmdb_error("env_sync", rc);
    return ok_status();
}

uint64_t Env::map_size() const {
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    return info.me_mapsize;
}

}  // namespace ses::store
