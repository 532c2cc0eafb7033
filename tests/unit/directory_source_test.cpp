#include <doctest/doctest.h>

#include <filesystem>

#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/source/directory_source.hpp"
#include "temp_dir.hpp"

using namespace lockstep;
using lockstep::test::TempDir;

TEST_SUITE("unit") {
  TEST_CASE("parse_migration_file_name") {
    SUBCASE("valid names") {
      auto p = detail::parse_migration_file_name("0001_create_users.sql");
      REQUIRE(p);
      CHECK(p.value().version == 1);
      CHECK(p.value().name == "create_users");
      auto ts = detail::parse_migration_file_name("20261120093000_add_index.sql");
      REQUIRE(ts);
      CHECK(ts.value().version == 20261120093000LL);
    }
    SUBCASE("invalid names say why and how to name the file") {
      for (const char* bad : {"create_users.sql", "0001.sql", "0001_.sql", "0001-users.sql", "0000_zero.sql",
                              "99999999999999999999_big.sql", "v1_users.sql"}) {
        CAPTURE(bad);
        auto p = detail::parse_migration_file_name(bad);
        REQUIRE_FALSE(p);
        CHECK(p.error().code == errc::source_invalid);
        CHECK(p.error().message.find(bad) != std::string::npos);
        CHECK(p.error().message.find("<version>_<name>.sql") != std::string::npos);
      }
    }
  }

  TEST_CASE("DirectorySource: a relative directory is resolved at construction, not at each load") {
    // A heartbeat's background run loads the source again while the
    // application serves; an application that chdir()s meanwhile must not
    // read another directory of the same name.
    TempDir home{"dirsource-home"}, elsewhere{"dirsource-elsewhere"};
    home.write("db/0001_mine.sql", "SELECT 1;\n");
    elsewhere.write("db/0001_other.sql", "SELECT 2;\n");
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(home.path());
    const DirectorySource source{"db"};
    std::filesystem::current_path(elsewhere.path());
    auto loaded = source.load();
    std::filesystem::current_path(cwd);
    REQUIRE(loaded);
    REQUIRE(loaded.value().size() == 1);
    CHECK(loaded.value()[0].name == "mine");
    CHECK(loaded.value()[0].origin == "db/0001_mine.sql");  // named as given
    CHECK(source.directory() == "db");
  }

  TEST_CASE("DirectorySource") {
    TempDir dir{"dirsource"};
    SUBCASE("sorts numerically, reads bytes verbatim, checksums their canonical text") {
      dir.write("10_ten.sql", "SELECT 10;\r\n");
      dir.write("2_two.sql", "SELECT 2;");
      dir.write("0001_one.sql", "");
      auto r = DirectorySource{dir.path()}.load();
      REQUIRE(r);
      const auto& ms = r.value();
      REQUIRE(ms.size() == 3);
      CHECK(ms[0].version == 1);
      CHECK(ms[1].version == 2);
      CHECK(ms[2].version == 10);
      CHECK(ms[2].sql == "SELECT 10;\r\n");
      CHECK(ms[2].checksum == detail::sha256_hex("SELECT 10;\n"));  // canonical: LF (checksum_test.cpp)
      CHECK(ms[2].legacy_checksum == detail::sha256_hex("SELECT 10;\r\n"));
      CHECK(ms[0].checksum == detail::sha256_hex(""));
      CHECK(ms[2].origin == (dir.path() / "10_ten.sql").string());
    }
    SUBCASE("ignores non-.sql and hidden files") {
      dir.write("0001_a.sql", "SELECT 1;");
      dir.write("README.md", "notes");
      dir.write(".0002_hidden.sql", "SELECT 2;");
      dir.write("0003_b.sql.bak", "SELECT 3;");
      auto r = DirectorySource{dir.path()}.load();
      REQUIRE(r);
      CHECK(r.value().size() == 1);
    }
    SUBCASE("a duplicate version names both files") {
      dir.write("0001_a.sql", "SELECT 1;");
      dir.write("1_b.sql", "SELECT 2;");
      auto r = DirectorySource{dir.path()}.load();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(r.error().message.find("0001_a.sql") != std::string::npos);
      CHECK(r.error().message.find("1_b.sql") != std::string::npos);
      CHECK(r.error().version == 1);
    }
    SUBCASE("an unparsable .sql name is an error with the path") {
      dir.write("0001_a.sql", "SELECT 1;");
      dir.write("add_users.sql", "SELECT 2;");
      auto r = DirectorySource{dir.path()}.load();
      REQUIRE_FALSE(r);
      CHECK(r.error().file == (dir.path() / "add_users.sql").string());
    }
    SUBCASE("an unreadable file is an error naming it") {
      std::filesystem::create_symlink(dir.path() / "missing-target", dir.path() / "0002_dangling.sql");
      auto r = DirectorySource{dir.path()}.load();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(r.error().message.find("0002_dangling.sql") != std::string::npos);
    }
    SUBCASE("a missing directory is an error naming it") {
      auto r = DirectorySource{dir.path() / "nope"}.load();
      REQUIRE_FALSE(r);
      CHECK(r.error().message.find("nope") != std::string::npos);
    }
  }
}
