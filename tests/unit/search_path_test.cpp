// The search_path a migration file sets (sql/search_path.hpp; issue 31,
// case 9), from the text alone: the path in force at each concurrent index
// build. The catalog half is in integration/search_path_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/sql/index_builds.hpp"
#include "lockstep/sql/search_path.hpp"

using namespace lockstep;
using Path = std::vector<std::string>;

namespace {

std::vector<sql::SearchPath> paths_at_builds(const std::string& text, bool in_transaction = false) {
  auto st = sql::split(text);
  REQUIRE(st);
  std::vector<sql::SearchPath> out;
  for (const auto& b : sql::concurrent_index_builds(st.value(), text, in_transaction)) out.push_back(b.search_path);
  return out;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("search_path as the file sets it") {
    const char* build = "CREATE INDEX CONCURRENTLY i ON t (a);\n";
    CHECK(paths_at_builds(build) == std::vector<sql::SearchPath>{std::nullopt});
    CHECK(paths_at_builds(std::string{"SET search_path = app;\n"} + build)[0] == Path{"app"});
    CHECK(paths_at_builds(std::string{"set search_path to App, \"My S\", '$user', public;\n"} + build)[0] ==
          Path{"app", "My S", "$user", "public"});
    CHECK(paths_at_builds(std::string{"SET SESSION search_path TO \"$user\", app;\n"} + build)[0] == Path{"$user", "app"});
    CHECK(paths_at_builds(std::string{"SELECT pg_catalog.set_config('search_path', 'A, \"B\"', false);\n"} + build)[0] ==
          Path{"a", "B"});
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nRESET search_path;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nSET search_path TO DEFAULT;\n"} + build)[0] ==
          std::nullopt);
    CHECK(paths_at_builds(std::string{"SET search_path = app;\nRESET ALL;\n"} + build)[0] == std::nullopt);
    // SET LOCAL outside a transaction block does nothing (the server warns);
    // inside one it lasts until COMMIT, and ROLLBACK takes back a SET.
    CHECK(paths_at_builds(std::string{"SET LOCAL search_path = app;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET LOCAL search_path = app;\nCOMMIT;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET search_path = app;\nROLLBACK;\n"} + build)[0] == std::nullopt);
    CHECK(paths_at_builds(std::string{"BEGIN;\nSET search_path = app;\nCOMMIT;\n"} + build)[0] == Path{"app"});
    CHECK(paths_at_builds(std::string{"SELECT set_config('search_path', 'app', true);\n"} + build)[0] == std::nullopt);
    // In a transactional file SET LOCAL lasts to its end.
    CHECK(paths_at_builds(std::string{"SET LOCAL search_path = app;\n"} + build, true)[0] == Path{"app"});
    // Later SETs do not reach back.
    CHECK(paths_at_builds(std::string{build} + "SET search_path = app;\n")[0] == std::nullopt);
    CHECK(sql::split_search_path(" \"$user\" , Public,\"a\"\"b\" ") == Path{"$user", "public", "a\"b"});
  }
}
