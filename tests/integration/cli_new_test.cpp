// `lockstep new NAME [--dir DIR] [--url URL]`, the real program in a
// temporary directory: the next file numbered like the directory's, its
// header, the path printed; refused names, versions that would sort before
// the newest file or an applied version, and a file never overwritten when
// several run at once.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

#include "cli.hpp"
#include "files.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;

namespace {
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::size_t sql_files(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator{dir}) n += e.path().extension() == ".sql" ? 1 : 0;
  return n;
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("lockstep new creates the next file, numbered like the directory's, with a header, and prints its path") {
    TempDir dir{"cli-new"};
    const std::string d = dir.path().string();
    SUBCASE("sequential, zero-padded") {
      write_table_migrations(dir, 9);  // 0001 .. 0009
      auto c = lockstep_cli({"new", "add_email", "--dir", d}, "new-seq");
      CAPTURE(c.err());
      REQUIRE(c.exit_code == 0);
      const auto path = dir.path() / "0010_add_email.sql";
      CHECK(trimmed(c.out()) == path.string());
      const std::string text = read_file(path);
      CHECK(text.starts_with("-- 0010_add_email.sql, created by lockstep new."));
      CHECK(text.find("-- lockstep:no-transaction") != std::string::npos);
      CHECK(text.find("-- lockstep:phase=contract") != std::string::npos);
      CHECK(text.find("-- lockstep:background") != std::string::npos);
      // The directory still loads and lints: the header is no directive, and no statement.
      auto lint = lockstep_cli({"lint", "--dir", d}, "new-lint");
      CAPTURE(lint.err());
      CHECK(lint.exit_code == 0);
      auto again = lockstep_cli({"new", "next_one", "--dir", d}, "new-seq-2");
      REQUIRE(again.exit_code == 0);
      CHECK(std::filesystem::exists(dir.path() / "0011_next_one.sql"));
    }
    SUBCASE("timestamps: the current UTC time, to the second") {
      dir.write("20200101000000_first.sql", "SELECT 1;\n");
      auto c = lockstep_cli({"new", "second", "--dir", d}, "new-ts");
      CAPTURE(c.err());
      REQUIRE(c.exit_code == 0);
      const std::string name = std::filesystem::path{trimmed(c.out())}.filename().string();
      CAPTURE(name);
      REQUIRE(name.size() == std::string{"20260101120000_second.sql"}.size());
      CHECK(name.ends_with("_second.sql"));
      CHECK(name.substr(0, 14) > "20260101000000");
      CHECK(std::filesystem::exists(dir.path() / name));
    }
    SUBCASE("an empty directory, or none yet, starts at 0001") {
      const auto sub = dir.path() / "db" / "migrations";
      auto c = lockstep_cli({"new", "init", "--dir", sub.string()}, "new-empty");
      CAPTURE(c.err());
      REQUIRE(c.exit_code == 0);
      CHECK(std::filesystem::exists(sub / "0001_init.sql"));
    }
  }

  TEST_CASE("lockstep new refuses a bad name, a version that would sort first, and never overwrites a file") {
    TempDir dir{"cli-new-refuse"};
    const std::string d = dir.path().string();
    SUBCASE("a name with a space, a slash or a dot is a usage error, and no file is made") {
      dir.write("0001_a.sql", "SELECT 1;\n");
      for (const char* bad : {"add email", "../escape", "a/b", "x.sql"}) {
        CAPTURE(bad);
        auto c = lockstep_cli({"new", bad, "--dir", d}, "new-bad-name");
        CHECK(c.exit_code == 2);
        CHECK(c.err().find("cannot name a migration") != std::string::npos);
      }
      CHECK(lockstep_cli({"new", "--dir", d}, "new-no-name").exit_code == 2);
      CHECK(sql_files(dir.path()) == 1);
      CHECK_FALSE(std::filesystem::exists(dir.path().parent_path() / "escape.sql"));
    }
    SUBCASE("a timestamp directory whose newest file is in the future: exit 4, naming it") {
      dir.write("29990101000000_future.sql", "SELECT 1;\n");
      auto c = lockstep_cli({"new", "late", "--dir", d}, "new-future");
      CHECK(c.exit_code == 4);
      CHECK(c.err().find("29990101000000_future.sql") != std::string::npos);
      CHECK(c.err().find("would not sort after") != std::string::npos);
      CHECK(sql_files(dir.path()) == 1);
    }
    SUBCASE("four at once: each file is created by one of them only (O_EXCL), a loser exits 3") {
      dir.write("0001_a.sql", "SELECT 1;\n");
      static TempDir out{"cli-new-herd"};
      Herd h{out.path() / "herd"};
      h.spawn(4, {cli_path(), "new", "same", "--dir", d});
      h.release();
      h.wait_all(std::chrono::seconds{60});
      std::set<std::string> created;
      int won = 0;
      for (const auto& c : h.children()) {
        CAPTURE(c.err());
        if (c.exit_code == 0) {
          ++won;
          CHECK(created.insert(trimmed(c.out())).second);  // no path reported twice
        } else {
          CHECK(c.exit_code == 3);
          CHECK(c.err().find("never overwrites") != std::string::npos);
        }
      }
      CHECK(won >= 1);
      CHECK(sql_files(dir.path()) == 1 + created.size());
      for (const auto& p : created) CHECK(read_file(p).starts_with("-- "));
    }
  }

  TEST_CASE("lockstep new --url refuses a version below one applied to the database") {
    TestDatabase db{"cli_new"};
    TempDir applied_dir{"cli-new-applied"}, branch{"cli-new-branch"};
    write_table_migrations(applied_dir, 5);  // the database is at 5
    auto m = lockstep_cli({"migrate", "--dir", applied_dir.path().string(), "--url", db.url()}, "new-migrate");
    REQUIRE(m.exit_code == 0);
    write_table_migrations(branch, 3);  // a branch that has only 1..3
    const std::string d = branch.path().string();
    auto c = lockstep_cli({"new", "late", "--dir", d, "--url", db.url()}, "new-behind");
    CHECK(c.exit_code == 6);
    CHECK(c.err().find("would sort before version 5") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(branch.path() / "0004_late.sql"));
    // Up to date: the next number is above what is applied.
    write_table_migrations(branch, 2, 4);
    auto ok = lockstep_cli({"new", "next", "--dir", d, "--url", db.url()}, "new-up-to-date");
    CAPTURE(ok.err());
    CHECK(ok.exit_code == 0);
    CHECK(std::filesystem::exists(branch.path() / "0006_next.sql"));
  }
}
