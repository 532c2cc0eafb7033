// New enum values used in the same transaction (issue 31, case 16): the
// server is the judge. What PostgreSQL runs in one transaction must not be
// refused (a Prisma migration, every enum statement of the corpora), and what
// it refuses with 55P04 must be found before anything runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "corpora.hpp"
#include "events.hpp"
#include "files.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
namespace fs = std::filesystem;

namespace {

using Run = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>;

const char* types =
    "CREATE TYPE \"DeployStatus\" AS ENUM ('QUEUED'); CREATE TYPE \"RepoStatus\" AS ENUM ('READY');"
    "CREATE TYPE s AS ENUM ('a'); CREATE TABLE t (id int, c s, note text); CREATE TABLE other (note text);";

// The SQLSTATE the server gives `sql` in one transaction (rolled back), or "" when it runs.
std::string in_one_transaction(const TestDatabase& db, const std::string& sql) {
  auto conn = db.connect();
  auto r = conn.execute("BEGIN;\n" + sql + "\n;ROLLBACK");
  if (r) return "";
  (void)conn.execute("ROLLBACK");
  return r.error().sqlstate;
}

Settings enum_settings(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = "v1";
  s.on_event = log.sink();
  return s;
}

const char* prisma =
    "-- AlterEnum\nALTER TYPE \"DeployStatus\" ADD VALUE 'BUILDING';\n\n"
    "-- AlterEnum\nALTER TYPE \"RepoStatus\" ADD VALUE 'BUILDING';\n";

// Corpus SQL without psql's lines, COPY ... FROM stdin and its data.
std::string without_psql(const std::string& text) {
  std::string sql;
  std::istringstream lines{text};
  bool copy_data = false;
  for (std::string line; std::getline(lines, line);) {
    if (copy_data) copy_data = line != "\\.";
    const bool psql = copy_data || line == "\\." || (!line.empty() && line[0] == '\\');
    const bool copy = !psql && line.find("FROM stdin") != std::string::npos;  // psql streams its data
    sql += (psql || copy ? std::string{} : line) + "\n";
    if (copy) copy_data = true;
  }
  return sql;
}

bool word(const std::vector<std::string>& t, std::size_t i, const char* w) { return i < t.size() && t[i] == w; }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("enum values: the server decides what is a use" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"enum_values"};
    REQUIRE(db.connect().execute(types));

    SUBCASE("the server: the Prisma file runs, the true positives fail with 55P04") {
      CHECK(in_one_transaction(db, prisma).empty());
      CHECK(in_one_transaction(db, "ALTER TYPE s ADD VALUE 'x'; INSERT INTO t (c) VALUES ('x');") == "55P04");
      CHECK(in_one_transaction(db, "ALTER TYPE s ADD VALUE 'x'; SELECT 'x'::s;") == "55P04");
      CHECK(in_one_transaction(db, "ALTER TYPE s ADD VALUE 'x'; UPDATE t SET c = 'x' WHERE id = 1;") == "55P04");
      CHECK(in_one_transaction(db, "ALTER TYPE s ADD VALUE 'x'; UPDATE other SET note = 'x';").empty());
      CHECK(in_one_transaction(db, "ALTER TYPE s ADD VALUE 'x'; ALTER TYPE s ADD VALUE 'y' AFTER 'x';").empty());
    }

    SUBCASE("lockstep applies the Prisma migration") {
      EventLog log;
      MemorySource source{{1, "prisma", prisma}};
      auto r = Run{enum_settings(db, log), source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(db.scalar("SELECT count(*) FROM pg_enum WHERE enumlabel = 'BUILDING'") == "2");
    }

    SUBCASE("a value stored in a column of that type is refused before anything runs") {
      for (std::string use : {"INSERT INTO t (c) VALUES ('x');", "UPDATE t SET c = 'x' WHERE id = 1;",
                              "SELECT 'x'::s;"}) {
        CAPTURE(use);
        TestDatabase fresh{"enum_values_use"};
        REQUIRE(fresh.connect().execute(types));
        EventLog log;
        MemorySource source{{1, "first", "SELECT 1;"}, {2, "use", std::string{"ALTER TYPE s ADD VALUE 'x';\n"} + use}};
        auto r = Run{enum_settings(fresh, log), source}.run();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::source_invalid);
        CHECK(r.error().line == 2);
        CHECK(r.error().message.find("55P04") != std::string::npos);
        CHECK(fresh.scalar("SELECT count(*) FROM pg_enum WHERE enumlabel = 'x'") == "0");
      }
    }

    SUBCASE("the label in a statement on columns of other types is applied, without a warning") {
      EventLog log;
      MemorySource source{{1, "note", "ALTER TYPE s ADD VALUE 'x';\nUPDATE other SET note = 'x';\n"}};
      auto r = Run{enum_settings(db, log), source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("lint") == 0);
    }

    SUBCASE("a use configured as an error blocks only once the catalog has not dismissed it") {
      // Review finding F2: the configured level blocked the unsure use before
      // the catalog was asked; the lock rules settle against the catalog first.
      EventLog log;
      auto s = enum_settings(db, log);
      s.lock_safety.levels["enum_value_in_same_transaction"] = checks::Level::error;
      MemorySource note{{1, "note", "ALTER TYPE s ADD VALUE 'z';\nUPDATE other SET note = 'z';\n"}};
      auto r = Run{s, note}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("lint") == 0);
      CHECK(db.scalar("SELECT count(*) FROM pg_enum WHERE enumlabel = 'z'") == "1");
      // What the catalog confirms still blocks, before anything runs.
      TestDatabase fresh{"enum_values_use"};
      REQUIRE(fresh.connect().execute(types));
      EventLog log2;
      auto s2 = enum_settings(fresh, log2);
      s2.lock_safety.levels["enum_value_in_same_transaction"] = checks::Level::error;
      MemorySource use{{1, "use", "ALTER TYPE s ADD VALUE 'x';\nUPDATE t SET c = 'x' WHERE id = 1;\n"}};
      auto blocked = Run{s2, use}.run();
      REQUIRE_FALSE(blocked);
      CHECK(blocked.error().code == errc::source_invalid);
      CHECK(blocked.error().line == 2);
      CHECK(blocked.error().message.find("t.c is of enum type s") != std::string::npos);
      CHECK(fresh.scalar("SELECT count(*) FROM pg_enum WHERE enumlabel = 'x'") == "0");
    }
  }

  // Every enum statement in the corpora, against the server: each explicit
  // transaction of a file (and each transactional file as a whole) is run
  // statement by statement, a savepoint before each, to learn which
  // statements the server refuses with 55P04; lint then reads the same
  // statements as one transactional migration. It must refuse (error) none
  // that the server runs, and must find (error or warning) every one the
  // server refuses.
  TEST_CASE("enum values: the corpora's enum statements against the server") {
    if (!fs::exists(corpora_dir() / "pg-regress")) {
      if (in_ci()) FAIL("corpora not found at " << corpora_dir().string());
      return;
    }
    int files = 0, refused_by_server = 0, checked = 0;
    for (const auto& corpus : {"harbor", "ory-kratos", "supabase-auth", "pg-regress"}) {
      std::vector<fs::path> paths;
      for (const auto& e : fs::directory_iterator{corpora_dir() / corpus})
        if (e.path().extension() == ".sql") paths.push_back(e.path());
      std::sort(paths.begin(), paths.end());
      for (const auto& path : paths) {
        const std::string raw = read_file(path);
        std::string lower = raw;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower.find("alter type") == std::string::npos || lower.find("add value") == std::string::npos) continue;
        const std::string text = without_psql(raw);
        auto statements = sql::split(text);
        if (!statements) {
          MESSAGE(path.string() << " does not split: " << statements.error().message);
          continue;
        }
        const bool regress = std::string{corpus} == "pg-regress";
        bool adds = false;  // an ALTER TYPE ... ADD VALUE statement of its own (not inside a DO block)
        for (const auto& s : statements.value()) adds = adds || sql::enum_value_added(sql::lex(s.text(text)), s.text(text));
        if (regress && !adds) continue;
        ++files;
        MESSAGE(path.string() << ": " << statements.value().size() << " statements");
        CAPTURE(path.string());
        if (!regress) {
          // Applied by psql -1 in the corpus tests: one transaction, no error.
          for (const auto& f : checks::statement_findings(statements.value(), {}, 150000, text))
            CHECK_MESSAGE(!(f.rule == "enum_value_in_same_transaction" && f.level == checks::Level::error),
                          f.message);
          continue;
        }
        // pg-regress: run the file as psql does, on a database of its own.
        TestDatabase db{"enum_corpus"};
        auto conn = db.connect();
        std::vector<std::string> block;  // statements of the open explicit transaction
        bool in_block = false;
        auto run_block = [&](bool commit) {
          std::string file;
          for (const auto& s : block) file += s + ";\n";
          auto st = sql::split(file);
          REQUIRE(st);
          std::vector<std::string> sqlstates;
          REQUIRE(conn.execute("BEGIN"));
          for (const auto& s : block) {
            REQUIRE(conn.execute("SAVEPOINT lockstep_oracle"));
            auto r = conn.execute(s);
            sqlstates.push_back(r ? "" : r.error().sqlstate);
            REQUIRE(conn.execute(r ? "RELEASE SAVEPOINT lockstep_oracle" : "ROLLBACK TO SAVEPOINT lockstep_oracle"));
          }
          REQUIRE(conn.execute(commit ? "COMMIT" : "ROLLBACK"));
          std::vector<const Finding*> at(block.size(), nullptr);
          const auto findings = checks::statement_findings(st.value(), {}, 150000, file);
          for (const auto& f : findings) {
            if (f.rule != "enum_value_in_same_transaction") continue;
            for (std::size_t k = 0; k < st.value().size(); ++k)
              if (st.value()[k].position.line == f.position.line) at[k] = &f;
          }
          for (std::size_t k = 0; k < block.size(); ++k) {
            CAPTURE(block[k]);
            ++checked;
            if (sqlstates[k] == "55P04") {
              ++refused_by_server;
              CHECK_MESSAGE(at[k] != nullptr, "the server refuses this with 55P04; lint must find it");
            } else if (at[k] != nullptr) {
              CHECK_MESSAGE(at[k]->level != checks::Level::error,
                            "the server runs this (" << sqlstates[k] << "), lint refuses it: " << at[k]->message);
            }
          }
          block.clear();
        };
        for (const auto& s : statements.value()) {
          const std::string stmt{s.text(text)};
          const auto t = checks::leading_words(sql::lex(s.text(text)));
          if (word(t, 0, "BEGIN") || (word(t, 0, "START") && word(t, 1, "TRANSACTION"))) {
            in_block = true;
          } else if (in_block && (word(t, 0, "COMMIT") || word(t, 0, "END"))) {
            run_block(true);
            in_block = false;
          } else if (in_block && (word(t, 0, "ROLLBACK") || word(t, 0, "ABORT")) && !word(t, 1, "TO")) {
            run_block(false);
            in_block = false;
          } else if (in_block && (word(t, 0, "SAVEPOINT") || word(t, 0, "RELEASE") || word(t, 0, "ROLLBACK"))) {
            // the oracle's own savepoint before each statement stands in for the file's
          } else if (in_block) {
            block.push_back(stmt);
          } else if (stmt.find("stdin") == std::string::npos) {
            (void)conn.execute(stmt);  // autocommit, as psql runs it; the file fails some on purpose
          }
        }
      }
    }
    MESSAGE(files << " corpus files with ADD VALUE; " << checked << " statements in transactions checked; "
                  << refused_by_server << " refused by the server with 55P04");
    CHECK(files >= 2);
    CHECK(refused_by_server >= 3);  // pg-regress enum.sql's unsafe uses
  }
}
