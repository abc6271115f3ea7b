// group_import.cpp -- importing a recipient group from CSV: N rows (default
// 100 000) of `email,name,code,city` with some quoted fields, parsed
// (parse_group_csv) and stored in one transaction (Groups::add), as
// `sesctl group import` and POST /v1/groups/{id}/recipients do.  Prints
// the parse, store and total times.  Target (#13): total <= 5 s at 100 000.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "records/groups.hpp"

using namespace ses;

namespace {
double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
    size_t rows = argc > 1 ? std::stoul(argv[1]) : 100000;
    std::string csv = "email,name,code,city\r\n";
    for (size_t i = 0; i < rows; ++i)
        csv += "user" + std::to_string(i) + "@domain" + std::to_string(i % 5000) + ".test,\"Name, " +
               std::to_string(i) + "\",C" + std::to_string(i * 7919 % 100000) + ",Lisboa\r\n";
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-groups-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    store::Options o;
    o.path = dir.string();
    auto env = store::Env::open(o);
    if (!env) {
        std::fprintf(stderr, "store: %s\n", env.error().what.c_str());
        return 1;
    }
    records::GroupLimits lim;
    lim.max_rows = rows;
    records::Groups groups(*env, lim);
    auto id = groups.create("bench", 0);
    if (!id) return 1;
    auto t0 = std::chrono::steady_clock::now();
    auto parsed = records::parse_group_csv(csv, lim);
    double parse = since(t0);
    auto t1 = std::chrono::steady_clock::now();
    auto rep = groups.add(*id, parsed.rows);
    double stored = since(t1);
    double total = since(t0);
    std::filesystem::remove_all(dir);
    if (!rep || rep->added != rows || !parsed.errors.empty()) {
        std::fprintf(stderr, "import failed: %s\n", rep ? "rows lost" : rep.error().what.c_str());
        return 1;
    }
    std::printf(
        "group import of %zu rows (%.1f MB CSV): parse %.2f s, store %.2f s, total %.2f s (target <= 5 s): %s\n", rows,
        csv.size() / 1e6, parse, stored, total, total <= 5.0 ? "ok" : "SLOW");
    return 0;
}
