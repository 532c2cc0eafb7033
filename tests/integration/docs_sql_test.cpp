// The SQL that README.md and docs/ tell operators to run is valid against a
// real server: every ```sql block runs (placeholders like <key> filled in).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "files.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
namespace fs = std::filesystem;

TEST_SUITE("integration") {
  TEST_CASE("documented SQL runs") {
    TestDatabase db{"docsql"};
    auto conn = db.connect();
    // What the documented least-privilege setup starts from: the ledger a DBA
    // created and the role it names.
    must(conn.query(lockstep::TableLedger{}.create_sql()));
    must(conn.query("DO $$ BEGIN CREATE ROLE app_migrator; EXCEPTION WHEN duplicate_object THEN NULL; END $$"));
    // The grants the docs list are exactly what `lockstep ledger-sql --role` prints.
    CHECK(read_file(fs::path{LOCKSTEP_SOURCE_DIR} / "docs" / "operations.md")
              .find(lockstep::TableLedger{}.grant_sql("app_migrator") + ";\n") != std::string::npos);
    std::vector<fs::path> docs{fs::path{LOCKSTEP_SOURCE_DIR} / "README.md"};
    for (const auto& e : fs::directory_iterator{fs::path{LOCKSTEP_SOURCE_DIR} / "docs"}) {
      if (e.path().extension() == ".md") docs.push_back(e.path());
    }
    int ran = 0;
    for (const auto& doc : docs) {
      const std::string text = read_file(doc);
      const std::regex block{R"(```sql\n([\s\S]*?)```)"};
      for (auto it = std::sregex_iterator{text.begin(), text.end(), block}; it != std::sregex_iterator{}; ++it) {
        std::string sql = (*it)[1].str();
        sql = std::regex_replace(sql, std::regex{"<key>"}, "42");
        sql = std::regex_replace(sql, std::regex{"<pid>"}, "pg_backend_pid()");
        CAPTURE(doc.filename().string());
        CAPTURE(sql);
        // Directives like "-- lockstep:no-transaction" make a block a migration example, not an ops query.
        if (sql.find("lockstep:") != std::string::npos && sql.find("-- lockstep:") != std::string::npos) continue;
        auto r = conn.query(sql);
        if (!r && (r.error().sqlstate == "42P01")) continue;  // needs a table the example creates (e.g. orders)
        CHECK_MESSAGE(r, (r ? "" : r.error().message));
        ++ran;
      }
    }
    CHECK(ran >= 4);
  }
}
