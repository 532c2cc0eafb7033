// Helpers for tests that run the lockstep program.
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

namespace lockstep::test {

// $LOCKSTEP_TEST_CLI runs the process tests against another build of the
// program (e.g. main's, to see a new test fail before its fix).
inline std::string cli_path() {
  const char* other = std::getenv("LOCKSTEP_TEST_CLI");
  return other != nullptr && *other != '\0' ? other : LOCKSTEP_CLI_PATH;
}

// Runs the program once with `args`, to its end (60 s at most). Its output
// goes to a directory of this test process, under `tag` and a serial
// number, so no two calls share one.
inline Child lockstep_cli(const std::vector<std::string>& args, const std::string& tag) {
  static TempDir out{"cli-out"};
  static std::atomic<int> serial{0};
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_one(argv, out.path() / (tag + "-" + std::to_string(++serial)));
}

// The program's arguments for `command` on `dir` against `db`, with a
// 60 s deadline and `more` after them.
inline std::vector<std::string> cli_argv(const std::string& command, const TempDir& dir, const TestDatabase& db,
                                         std::vector<std::string> more = {}) {
  std::vector<std::string> argv{cli_path(), command, "--dir", dir.path().string(), "--url", db.url(),
                                "--timeout", "60s"};
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

// N migrations, each a table with an index and one row: enough work that a
// double apply or a half-applied migration shows up in the schema.
inline void write_table_migrations(const TempDir& dir, int n, int first = 1) {
  for (int i = first; i < first + n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%04d_table_%d.sql", i, i);
    dir.write(name, "CREATE TABLE t" + std::to_string(i) + " (id int PRIMARY KEY, note text);\n" +
                        "CREATE INDEX t" + std::to_string(i) + "_note ON t" + std::to_string(i) + " (note);\n" +
                        "INSERT INTO t" + std::to_string(i) + " VALUES (" + std::to_string(i) + ", 'row');\n");
  }
}

inline std::size_t count_substr(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace lockstep::test
