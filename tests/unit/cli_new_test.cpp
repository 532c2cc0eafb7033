// `lockstep new NAME` (examples/cli/new_migration.hpp, args.hpp): which
// names it takes, how it numbers the next file, and its header. The program
// itself, in a directory and against a ledger: integration/cli_new_test.cpp.
#include <doctest/doctest.h>

#include <string>

#include "args.hpp"
#include "lockstep/source/directory_source.hpp"
#include "lockstep/sql/directives.hpp"
#include "new_migration.hpp"

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("lockstep new: a name of letters, digits, _ and - only, refused as a usage error otherwise") {
    auto ok = cli::parse_args({"new", "add_users-email2", "--dir", "db"});
    CHECK(ok.error.empty());
    CHECK(ok.command == "new");
    CHECK(ok.new_name == "add_users-email2");
    CHECK(ok.dir == "db");
    for (const char* bad : {"add users", "a/b", "..", "a.sql", "a\\b", "caf\xc3\xa9"}) {
      CAPTURE(bad);
      auto a = cli::parse_args({"new", bad});
      CHECK(a.error.find("cannot name a migration") != std::string::npos);
    }
    CHECK(cli::parse_args({"new"}).error.find("new takes the new migration's name") != std::string::npos);
    CHECK(cli::parse_args({"new", "--dir", "db"}).error.find("new takes") != std::string::npos);
    CHECK_FALSE(cli::parse_args({"new", std::string(101, 'a')}).error.empty());
  }

  TEST_CASE("lockstep new: numbered like the directory's newest file") {
    // 2026-01-01 12:00:00 UTC
    const std::time_t now = 1767268800;
    CHECK(cli::utc_timestamp(now) == "20260101120000");
    SUBCASE("an empty directory starts at 0001") {
      CHECK(cli::next_version_digits(cli::numbering_of(""), 0, now) == "0001");
    }
    SUBCASE("sequential numbers keep their zero padding, and grow past it") {
      CHECK(cli::next_version_digits(cli::numbering_of("0007"), 7, now) == "0008");
      CHECK(cli::next_version_digits(cli::numbering_of("0009"), 9, now) == "0010");
      CHECK(cli::next_version_digits(cli::numbering_of("9999"), 9999, now) == "10000");
      CHECK(cli::next_version_digits(cli::numbering_of("12"), 12, now) == "13");
      CHECK(cli::next_version_digits(cli::numbering_of("000041"), 41, now) == "000042");
    }
    SUBCASE("fourteen digits are a UTC timestamp to the second") {
      CHECK(cli::numbering_of("20251231235959").timestamp);
      CHECK(cli::next_version_digits(cli::numbering_of("20251231235959"), 20251231235959, now) == "20260101120000");
      CHECK_FALSE(cli::numbering_of("00000000000042").timestamp);  // zero-padded, not a date
    }
  }

  TEST_CASE("lockstep new: the header names the directives and is none of them") {
    const std::string t = cli::migration_template("0002_x.sql");
    CHECK(t.starts_with("-- 0002_x.sql, created by lockstep new."));
    for (const char* d : {"lockstep:no-transaction", "lockstep:phase=contract", "lockstep:lock-timeout=5s",
                          "lockstep:background", "lockstep:allow="}) {
      CAPTURE(d);
      CHECK(t.find(d) != std::string::npos);
    }
    CHECK_FALSE(sql::declares_contract(t));
    CHECK_FALSE(sql::declares_background(t));
    auto parsed = sql::parse_directives(t, t.size());
    REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message));
    CHECK_FALSE(parsed.value().no_transaction);
  }
}
