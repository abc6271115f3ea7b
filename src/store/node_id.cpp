// node_id.cpp -- see node_id.hpp.
#include "store/node_id.hpp"

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "store/schema.hpp"

namespace ses::store {

namespace {
constexpr std::string_view kName = "node_id";
constexpr size_t kBytes = 8;
}  // namespace

Result<std::string> node_id(Env& env) {
    Table meta = env.table(table::meta);
    std::string id;
    Status st = env.view([&](Txn& txn) -> Status {
        if (auto v = txn.get(meta, kName)) id.assign(*v);
        return txn.status();
    });
    if (!st) return st.error();
    if (id.size() == 2 * kBytes) return id;
    st = env.update([&](Txn& txn) -> Status {
        if (auto v = txn.get(meta, kName); v && v->size() == 2 * kBytes) {
            id.assign(*v);
            return txn.status();
        }
        id = crypto::hex_encode(crypto::random_bytes(kBytes));
        txn.put(meta, kName, id);
        return txn.status();
    });
    if (!st) return st.error();
    return id;
}

}  // namespace ses::store
