// Statement boundaries must equal PostgreSQL's own parser's (libpg_query, the
// PostgreSQL 15 grammar as a C library) on PostgreSQL's regression SQL.
#include <doctest/doctest.h>
#include <pg_query.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "corpora.hpp"
#include "files.hpp"
#include "lockstep/sql/splitter.hpp"
#include "pg_query_oracle.hpp"
#include "test_db.hpp"

using namespace lockstep;
namespace fs = std::filesystem;

namespace {

struct Meta {
  bool psql_syntax = false;  // meta-commands or COPY ... FROM stdin data
};

// META.tsv is the corpus maintainers' own account of each file, independent of our lexer.
std::map<std::string, Meta> read_meta(const fs::path& file) {
  std::map<std::string, Meta> out;
  std::ifstream in{file};
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind("file\t", 0) == 0) continue;
    std::istringstream cols{line};
    std::string name, meta_lines, midline, copy_blocks;
    std::getline(cols, name, '\t');
    std::getline(cols, meta_lines, '\t');
    std::getline(cols, midline, '\t');
    std::getline(cols, copy_blocks, '\t');
    out[name].psql_syntax = meta_lines != "0" || midline != "0" || copy_blocks != "0";
  }
  return out;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("split matches libpg_query on PostgreSQL regression SQL") {
    const fs::path dir = test::corpora_dir() / "pg-regress";
    if (!fs::exists(dir / "META.tsv")) {
      if (test::in_ci()) FAIL("corpus not found at " << dir.string() << " (CI needs ../shared beside the clone)");
      WARN_MESSAGE(false, "corpus not found; skipping");
      return;
    }
    const auto meta = read_meta(dir / "META.tsv");
    int compared = 0, via_parser = 0, via_scanner = 0, skipped_psql = 0, skipped_no_oracle = 0;
    std::size_t statements = 0;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator{dir}) {
      if (e.path().extension() == ".sql") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      const std::string name = path.filename().string();
      CAPTURE(name);
      REQUIRE(meta.count(name) == 1);
      const std::string sql = test::read_file(path);
      // psql's "\;" (joins statements; corpus README) is psql syntax too.
      if (meta.at(name).psql_syntax || sql.find("\\;") != std::string::npos) {
        // Not SQL, so the splitter must refuse it rather than guess.
        CHECK_MESSAGE(!sql::split(sql), "psql syntax was accepted");
        ++skipped_psql;
        continue;
      }
      auto oracle = test::oracle_split(sql);
      if (!oracle.ok) {
        ++skipped_no_oracle;
        continue;
      }
      (oracle.by_parser ? via_parser : via_scanner)++;
      auto ours = sql::split(sql);
      REQUIRE_MESSAGE(ours, (ours ? "" : ours.error().message));
      std::vector<test::Boundary> mine;
      for (const auto& s : ours.value()) mine.push_back({s.begin, s.terminator});
      REQUIRE(mine.size() == oracle.boundaries.size());
      for (std::size_t i = 0; i < mine.size(); ++i) {
        CAPTURE(i);
        CAPTURE(sql.substr(oracle.boundaries[i].begin, 80));
        REQUIRE(mine[i].begin == oracle.boundaries[i].begin);
        REQUIRE(mine[i].terminator == oracle.boundaries[i].terminator);
      }
      statements += mine.size();
      ++compared;
    }
    MESSAGE("compared " << compared << " files (" << via_parser << " by parser, " << via_scanner
                        << " by scanner), " << statements << " statements; skipped " << skipped_psql
                        << " with psql syntax (each rejected) and " << skipped_no_oracle << " that libpg_query cannot split");
    CHECK(compared >= 120);
    CHECK(compared + skipped_psql + skipped_no_oracle == static_cast<int>(files.size()));
  }
}
