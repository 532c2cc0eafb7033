// Real migration sets from open-source projects (../shared/corpora), applied
// with lockstep on one fresh database and with psql on another: the schemas
// (from the catalog, and pg_dump --schema-only where it can read the server)
// must be identical, and a second lockstep run must
// be a no-op. Staging follows the corpus README: a prelude per set, template
// placeholders substituted, and the files APPLY.tsv marks as autocommit get
// `-- lockstep:no-transaction` (and run without psql -1).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "corpora.hpp"
#include "events.hpp"
#include "files.hpp"
#include "lockstep/lockstep.hpp"
#include "schema_catalog.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
namespace fs = std::filesystem;

namespace {

struct Corpus {
  std::string name;
  std::string prelude;
  std::vector<std::pair<std::string, std::string>> substitutions;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  REQUIRE_MESSAGE(rc == 0, "command failed: " << cmd);
  return out;
}

// A pg_dump that can read db's server: the one beside the fixture's server
// binaries, else the one on PATH, when its major version is not older than
// the server's; "" when there is none (then the catalog alone compares).
std::string pg_dump_for_server(const TestDatabase& db) {
  const long server_major = std::stol(db.scalar("SHOW server_version_num")) / 10000;
  const std::string beside = server_bindir() + "/pg_dump";
  const std::string pg_dump = !server_bindir().empty() && ::access(beside.c_str(), X_OK) == 0 ? beside : "pg_dump";
  // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  std::istringstream version{run_capture(pg_dump + " --version")};
  std::string word, number;
  version >> word >> word >> number;
  const long dump_major = std::atol(number.c_str());
  if (dump_major >= server_major) return pg_dump;
  MESSAGE(pg_dump << " " << number << " cannot read PostgreSQL " << server_major
                  << "; the schemas are compared from the catalog alone");
  return {};
}

// file -> true when the corpus maintainers applied it outside a transaction.
std::map<std::string, bool> autocommit_files(const fs::path& apply_tsv) {
  std::map<std::string, bool> out;
  std::ifstream in{apply_tsv};
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind("file\t", 0) == 0) continue;
    std::istringstream cols{line};
    std::string file, mode;
    std::getline(cols, file, '\t');
    std::getline(cols, mode, '\t');
    out[file] = mode != "single-tx";
  }
  return out;
}

void apply_corpus(const Corpus& corpus) {
  const fs::path src = corpora_dir() / corpus.name;
  if (!fs::exists(src / "APPLY.tsv")) {
    if (in_ci()) FAIL("corpus not found at " << src.string());
    WARN_MESSAGE(false, "corpus " << corpus.name << " not found; skipping");
    return;
  }
  const auto autocommit = autocommit_files(src / "APPLY.tsv");
  TempDir staged{"corpus-" + corpus.name};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator{src}) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == autocommit.size());
  for (const auto& f : files) {
    std::string sql = read_file(f);
    for (const auto& [from, to] : corpus.substitutions) {
      for (auto p = sql.find(from); p != std::string::npos; p = sql.find(from, p + to.size())) sql.replace(p, from.size(), to);
    }
    staged.write(f.filename().string(), sql);
  }

  TestDatabase with_psql{"corpus_psql"};
  TestDatabase with_lockstep{"corpus_lockstep"};
  if (!corpus.prelude.empty()) {
    must(with_psql.connect().query(corpus.prelude));
    must(with_lockstep.connect().query(corpus.prelude));
  }

  // Reference: psql, one process per file, as the corpus README validated it.
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    const std::string cmd = "psql -X -q -v ON_ERROR_STOP=1 " + std::string{autocommit.at(name) ? "" : "-1 "} +
                            "-d " + shell_quote(with_psql.url()) + " -f " + shell_quote((staged.path() / name).string()) +
                            " >/dev/null 2>&1";
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "psql failed on " << name);
  }

  // lockstep: the same files, autocommit ones marked no-transaction.
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    if (autocommit.at(name)) staged.write(name, "-- lockstep:no-transaction\n" + read_file(staged.path() / name));
  }
  EventLog log;
  Settings settings;
  settings.database_url = with_lockstep.url();
  settings.on_event = log.sink();
  auto first = Migrator<>{settings, DirectorySource{staged.path()}}.run();
  REQUIRE_MESSAGE(first, (first ? "" : first.error().to_string()));
  CHECK(first.value().applied.size() == files.size());
  CHECK(with_lockstep.number("SELECT count(*) FROM lockstep.migrations") == static_cast<long long>(files.size()));

  // The schemas compared two ways: from the catalog (any server version), and
  // with pg_dump --schema-only when the pg_dump at hand can read this server
  // (pg_dump refuses a server newer than itself).
  const std::string pg_dump = pg_dump_for_server(with_psql);
  auto describe = [&pg_dump](const TestDatabase& db) {
    std::string out = db.scalar("SELECT string_agg(line, E'\\n' ORDER BY line COLLATE \"C\") FROM (" +
                                schema_catalog_query("lockstep") + ") c");
    if (pg_dump.empty()) return out;
    // pg_dump >= 15.14 brackets its output with \restrict/\unrestrict and a
    // random key per run; those two lines are not schema.
    std::istringstream in{run_capture(pg_dump + " --schema-only --exclude-schema=lockstep -d " + shell_quote(db.url()))};
    out += "\n-- pg_dump --schema-only:\n";
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("\\restrict ", 0) == 0 || line.rfind("\\unrestrict ", 0) == 0) continue;
      out += line + '\n';
    }
    return out;
  };
  const std::string expected = describe(with_psql);
  const std::string actual = describe(with_lockstep);
  CHECK(expected.size() > 1000);
  CHECK_MESSAGE(actual == expected, "the schema (catalog" << (pg_dump.empty() ? "" : " and pg_dump --schema-only")
                                                          << ") differs for corpus " << corpus.name);

  EventLog again_log;
  settings.on_event = again_log.sink();
  auto again = Migrator<>{settings, DirectorySource{staged.path()}}.run();
  REQUIRE(again);
  CHECK(again.value().role == Role::current);
  CHECK(again.value().applied.empty());
  CHECK(describe(with_lockstep) == expected);
  if (actual == expected) MESSAGE(corpus.name << ": " << files.size() << " files applied; schema identical to psql's");
}

// Each file judged alone, as when it is the one pending migration of a
// deploy against a live database where its tables exist: the view that
// shows the most findings. pg-regress files lose their psql lines (and COPY
// data) first; files that still do not split are skipped and counted.
std::map<std::string, int> lock_safety_counts(const std::string& corpus,
                                              const std::vector<std::pair<std::string, std::string>>& substitutions,
                                              int& skipped) {
  std::map<std::string, int> counts;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator{corpora_dir() / corpus}) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::string sql;
    std::istringstream lines{read_file(f)};
    bool copy_data = false;
    for (std::string line; std::getline(lines, line);) {
      if (copy_data) copy_data = line != "\\.";
      const bool psql = copy_data || line == "\\." || (!line.empty() && line[0] == '\\');
      sql += (psql ? std::string{} : line) + "\n";
      if (!psql && line.find("FROM stdin") != std::string::npos) copy_data = true;
    }
    for (const auto& [from, to] : substitutions) {
      for (auto p = sql.find(from); p != std::string::npos; p = sql.find(from, p + to.size())) sql.replace(p, from.size(), to);
    }
    auto statements = sql::split(sql);
    if (!statements) {
      ++skipped;
      continue;
    }
    safety::Analyzer alone{150000};
    auto findings = safety::judge(alone.migration(statements.value(), sql, {}), LockSafety{}, nullptr);
    REQUIRE(findings);
    for (const auto& finding : findings.value()) ++counts[finding.rule];
  }
  return counts;
}

const std::vector<std::pair<std::string, std::string>> supabase_namespace{
    {"{{ index .Options \"Namespace\" }}", "auth"}, {"{{index .Options \"Namespace\" }}", "auth"}};

}  // namespace

TEST_SUITE("integration") {
  // docs/lock-safety.md publishes these counts, and every finding behind
  // them was reviewed; a rule change that moves them must update the page.
  TEST_CASE("corpora through the lock-safety rules") {
    if (!fs::exists(corpora_dir() / "harbor")) {
      if (in_ci()) FAIL("corpora not found at " << corpora_dir().string());
      return;
    }
    const std::vector<std::string> corpora{"harbor", "ory-kratos", "supabase-auth", "pg-regress"};
    std::vector<std::map<std::string, int>> counts;
    int skipped = 0;
    for (const auto& c : corpora) {
      counts.push_back(lock_safety_counts(c, c == "supabase-auth" ? supabase_namespace
                                                                  : std::vector<std::pair<std::string, std::string>>{},
                                          skipped));
    }
    std::string table;
    for (const auto& rule : checks::all_rules) {
      if (rule.kind != checks::Rule::Kind::lock) continue;  // the statement rules are not counted here
      table += "| `" + std::string{rule.id} + "` |";
      for (const auto& c : counts) {
        const auto it = c.find(std::string{rule.id});
        table += " " + std::to_string(it == c.end() ? 0 : it->second) + " |";
      }
      table += "\n";
    }
    const std::string doc = read_file(fs::path{LOCKSTEP_SOURCE_DIR} / "docs" / "lock-safety.md");
    const auto begin = doc.find("<!-- corpora-counts -->\n");
    const auto end = doc.find("<!-- /corpora-counts -->");
    REQUIRE(begin != std::string::npos);
    REQUIRE(end != std::string::npos);
    std::string published = doc.substr(begin + 24, end - begin - 24);
    published = published.substr(published.find("|---"));
    published = published.substr(published.find('\n') + 1);
    CHECK_MESSAGE(published == table, "docs/lock-safety.md should list:\n" << table);
    CHECK(skipped == 40);  // pg-regress files with psql syntax beyond whole lines (\gset, \if blocks...)
  }

  TEST_CASE("corpus harbor" * doctest::test_suite("pg_sample")) {
    apply_corpus({"harbor",
                  "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
                  {}});
  }
  TEST_CASE("corpus ory-kratos") { apply_corpus({"ory-kratos", "", {}}); }
  TEST_CASE("corpus supabase-auth") {
    apply_corpus({"supabase-auth",
                  "CREATE SCHEMA IF NOT EXISTS auth",
                  {{"{{ index .Options \"Namespace\" }}", "auth"}, {"{{index .Options \"Namespace\" }}", "auth"}}});
  }
}
