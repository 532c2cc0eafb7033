// What a background runner can run: this image's background files, read
// and checked once (a file pre-flight would refuse is skipped, never run),
// and what one step of a runner came to.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/background/long_sql.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::detail {

// What one step came to.
// `held`: every job it could run waits for something that may take long
// (older replicas to leave, a job it requires): `background run` ends then.
enum class Step { batch, finished, busy, retry, throttled, held, failed, idle };

// A file this replica can run: its statements and directives, and its
// placeholders (a batch file's), found once.
struct RunnableFile {
  Migration migration;
  std::vector<background::Placeholder> at;
  bool after_old_replicas_gone = false;  // -- lockstep:after=old-replicas-gone
  std::vector<sql::Statement> statements;
  sql::Directives directives;
};

// The background files of `migrations`, each with its placeholders found.
[[nodiscard]] inline result<std::map<std::int64_t, RunnableFile>> runnable_files(std::vector<Migration> migrations) {
  std::map<std::int64_t, RunnableFile> out;
  for (auto& m : migrations) {
    auto statements = sql::split(m.sql);
    if (!statements) continue;  // pre-flight refuses it; a runner only skips it
    const std::size_t prefix_end = statements.value().empty() ? m.sql.size() : statements.value().front().begin;
    auto d = sql::parse_directives(m.sql, prefix_end);
    if (!d || !d.value().background) continue;
    if (!background::check_background_file(m, statements.value(), d.value())) continue;
    auto at = background::placeholders(m.sql, statements.value());
    const auto version = m.version;
    const bool after = d.value().after_old_replicas_gone;
    out.emplace(version, RunnableFile{std::move(m), std::move(at), after, std::move(statements).value(),
                                      std::move(d).value()});
  }
  return out;
}

}  // namespace lockstep::detail
