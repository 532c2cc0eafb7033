// Errors are understood by SQLSTATE and protocol fields, never by their
// words: against a server whose lc_messages is German, a wrong password is
// refused at once (not retried for the whole deadline) and a migration's
// error keeps its line and column.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {
std::string german_or_skip() {
  const auto url = german_server_url();
  if (url.empty() && in_ci()) FAIL("the German-speaking test server was not started (is de_DE.UTF-8 generated?)");
  return url;
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("a server that speaks German") {
    const auto server = german_or_skip();
    if (server.empty()) return;
    TestDatabase db{"deutsch", server};
    // The server really speaks German.
    auto probe = db.connect().query("SELECT nope");
    REQUIRE_FALSE(probe);
    REQUIRE(probe.error().server_message.find("existiert nicht") != std::string::npos);
    TempDir dir{"deutsch"};
    Settings s;
    s.on_event = null_sink();

    SUBCASE("a wrong password is refused at once, by SQLSTATE") {
      (void)db.connect().query("CREATE ROLE lockstep_pw LOGIN PASSWORD 'right-one'");
      s.database_url = "postgresql://lockstep_pw:wrong-one@" + db.url().substr(db.url().find('@') + 1);
      dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
      const auto t0 = std::chrono::steady_clock::now();
      auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{20s}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::connection_failed);
      CHECK(r.error().sqlstate == "28P01");
      CHECK(std::chrono::steady_clock::now() - t0 < 5s);
      CHECK(r.error().message.find("wrong-one") == std::string::npos);
    }
    SUBCASE("a migration's error keeps its position") {
      s.database_url = db.url();
      dir.write("0001_bad.sql", "CREATE TABLE t (id int);\nINSERT INTO t\n  VALUES (nope);\n");
      auto r = Migrator<>{s, DirectorySource{dir.path()}, Deadline<>{20s}}.run();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
      CHECK(r.error().sqlstate == "42703");
      CHECK(r.error().line == 3);
      CHECK(r.error().column == 11);
      CHECK(r.error().server_message.find("nope") != std::string::npos);
    }
  }
}
