// EmbeddedSource (source/embedded_source.hpp) applied to a real server: the
// embedded bytes reach it intact, and each ledger checksum is the file's on
// disk.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "events.hpp"
#include "files.hpp"
#include "fixture_migrations.hpp"
#include "lockstep/source/checksum.hpp"
#include "lockstep/lockstep.hpp"
#include "plain_runs.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace lockstep::test::plain;

TEST_SUITE("integration") {
  TEST_CASE("EmbeddedSource applied") {
    TestDatabase db{"embedded"};
    EventLog log;
    auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, EmbeddedSource>{settings_for(db, log), fixture::source()}
                 .run();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(r.value().applied.size() == 3);
    // The bytes reached the server intact: UTF-8, backslashes and a tab.
    CHECK(db.scalar("SELECT body FROM notes WHERE id = 2") == "caf\xc3\xa9 \\ tab\there");
    CHECK(db.scalar("SELECT body FROM notes WHERE id = 1") == "caf\xc3\xa9 \\ \"quoted\"");
    // The ledger's checksum for each embedded migration is that of the file on
    // disk, taken by the one function every source uses (its canonical text:
    // one fixture file has CRLF line endings).
    for (const auto& m : fixture::migrations) {
      const std::string bytes = read_file(std::filesystem::path{LOCKSTEP_FIXTURES} / "embedded" / std::string{m.file});
      CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = " + std::to_string(m.version)) ==
            migration_checksum(bytes));
    }
  }
}
