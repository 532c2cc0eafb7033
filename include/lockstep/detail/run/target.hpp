// Phase 1, load: the settings checked (nothing is sent before they are) and
// the source read into the Target this run works towards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/digest.hpp"
#include "lockstep/detail/base/durations.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/prepare.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/substitute.hpp"
#include "lockstep/detail/base/utf8.hpp"
#include "lockstep/checks/requirements.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/sql/directives.hpp"

namespace lockstep::detail {

// What the settings say, checked.
struct Checked {
  BootMode mode = BootMode::migrate;
  Conninfo conninfo;  // the URL as libpq reads it
};

// Every duration that is waited on or sent to PostgreSQL, checked before
// anything runs (durations.hpp): a value the server refuses would otherwise
// fail the first migration with 22023, blamed on the file.
[[nodiscard]] inline result<void> check_durations(const Settings& s) {
  LOCKSTEP_TRYV(check_pg_duration("the lock timeout (Settings::lock_timeout, --lock-timeout)", s.lock_timeout, true));
  if (s.statement_timeout) {
    LOCKSTEP_TRYV(check_pg_duration("the statement timeout (Settings::statement_timeout)", *s.statement_timeout, true));
  }
  LOCKSTEP_TRYV(
      check_pg_duration("the stall timeout (Settings::stall_timeout, --stall-timeout)", s.stall_timeout, false));
  LOCKSTEP_TRYV(check_local_duration("the progress interval (Settings::progress_interval, --progress-interval)",
                                     s.progress_interval, true));
  LOCKSTEP_TRYV(check_local_duration("the finalize budget (Settings::finalize_budget, --finalize-budget)",
                                     s.finalize_budget, true));
  // Compared in seconds: converting seconds::max() to ms would overflow.
  if (s.connect_timeout > std::chrono::duration_cast<std::chrono::seconds>(longest_duration)) {
    return make_error(errc::invalid_argument, "the connect timeout (Settings::connect_timeout) of " +
                                                  std::to_string(s.connect_timeout.count()) +
                                                  " s is longer than lockstep waits (a century): use a shorter one");
  }
  LOCKSTEP_TRYV(check_local_duration("the connect timeout (Settings::connect_timeout)", s.connect_timeout, false));
  return outcome::success();
}

// Every text that reaches SQL (the ledger's rows, the lock key, the
// session's application_name) or an event: a NUL byte would cut it short in
// libpq, and a byte that is not UTF-8 is refused by the server (22021) in
// the middle of the first migration, which was then blamed on the file.
// The value itself is not repeated: it is what cannot be printed. (The URL
// is libpq's to judge: a password may be any bytes, and events carry it
// redacted, with any stray byte written as U+FFFD by the JSON writer.)
template <class Timeout>
[[nodiscard]] result<void> check_texts(const Context<Timeout>& ctx, const Settings& s) {
  struct Named {
    const char* name;
    const std::string& value;
  };
  const Named texts[] = {
      {"the deploy version (Settings::deploy_version, --deploy-version, LOCKSTEP_DEPLOY_VERSION)", ctx.deploy_version()},
      {"the host name (Settings::host, --host, HOSTNAME)", ctx.host()},
      {"the application name (Settings::application_name)", s.application_name},
      {"the lock name (Settings::lock_name, --lock-name)", s.lock_name},
  };
  for (const auto& t : texts) {
    const auto bad = first_bad_byte(t.value);
    if (!bad) continue;
    return make_error(errc::invalid_argument,
                      std::string{t.name} + (bad->nul ? " contains a NUL byte" : " is not valid UTF-8") +
                          " (at byte " + std::to_string(bad->offset + 1) +
                          "); it is written to the database and to every event, which take UTF-8 text only: "
                          "set it to UTF-8 text without control bytes. Nothing was run");
  }
  return outcome::success();
}

template <class Timeout>
[[nodiscard]] result<Checked> check_settings(const Context<Timeout>& ctx, const Settings& settings) {
  if (ctx.budget() <= std::chrono::milliseconds{0}) {
    return make_error(errc::invalid_argument, "the timeout must be positive");
  }
  LOCKSTEP_TRYV(check_durations(settings));
  LOCKSTEP_TRYV(check_texts(ctx, settings));
  for (const auto& [id, level] : settings.lock_safety.levels) {
    if (auto checked = checks::check_level(id, level); !checked) {
      return make_error(errc::invalid_argument, "Settings::lock_safety.levels: " + checked.error().message);
    }
  }
  // Resolved once, when the context was made (resolved.hpp); reported here,
  // in this order.
  const Resolved& r = ctx.resolved();
  if (r.mode_error) return *r.mode_error;
  if (!r.conninfo) {
    return make_error(errc::invalid_argument,
                      "no database URL: set DATABASE_URL_MIGRATION (a direct connection to the primary, not "
                      "through a transaction-pooling proxy) or DATABASE_URL, or Settings::database_url");
  }
  if (!*r.conninfo) return r.conninfo->error();
  Checked c;
  c.mode = r.settings.mode;
  c.conninfo = r.conninfo->value();
  return c;
}

// The migrations and the version this image expects.
struct Target {
  BootMode mode = BootMode::migrate;
  std::vector<Migration> migrations;
  DigestChain chain;  // of `migrations`, for the fast path's one comparison
  // The gate's threshold: the newest expand migration up to `bound`.
  // Contract migrations are not waited for, so a deploy that ships one
  // starts while older replicas still run.
  std::int64_t expected = 0;
  std::int64_t final_version = 0;  // the newest expand migration this run may apply (its commit wakes the waiters)
  std::int64_t bound = 0;          // the newest migration of either phase this run may apply

  [[nodiscard]] bool in_window(const Migration& m, std::int64_t applied_version) const noexcept {
    return m.version > applied_version && m.version <= (m.contract ? bound : expected);
  }
  [[nodiscard]] const Migration* find(std::int64_t version) const noexcept { return find_migration(migrations, version); }
  [[nodiscard]] bool has_contracts() const noexcept {
    return std::any_of(migrations.begin(), migrations.end(),
                       [&](const Migration& m) { return m.contract && m.version <= bound; });
  }
  // The newest contract migration this image knows: a schema that has it
  // applied is not "ahead" of this image.
  [[nodiscard]] std::int64_t newest_contract() const noexcept {
    std::int64_t v = 0;
    for (const auto& m : migrations) {
      if (m.contract && m.version <= bound) v = m.version;
    }
    return v;
  }
};

// `bound`: Settings::expected_version, else the newest migration. Beyond the
// source it stays the threshold, so the gate says what is missing.
[[nodiscard]] inline std::int64_t expand_threshold(const std::vector<Migration>& migrations, std::int64_t bound) {
  if (bound > newest_version(migrations)) return bound;
  std::int64_t expected = 0;
  for (const auto& m : migrations) {
    if (!m.contract && m.version <= bound) expected = m.version;
  }
  return expected;
}

// A Source of the user's own is held to SourcePolicy's promise here: the
// digest chain, the plan and the gate all rely on it, and a source that broke
// it would otherwise pass the fast path's check against the wrong prefix.
[[nodiscard]] inline result<void> check_source(const std::vector<Migration>& migrations) {
  std::int64_t previous = 0;
  for (const auto& m : migrations) {
    const char* broken = nullptr;
    if (m.version <= 0) {
      broken = "a version that is not positive";
    } else if (m.version <= previous) {
      broken = "versions out of order or twice";
    } else if (m.checksum.empty()) {
      broken = "no checksum";
    }
    if (broken != nullptr) {
      return at_migration(make_error(errc::source_invalid,
                                     "the migration source returned " + std::string{broken} +
                                         ": a Source's load() must return migrations sorted by version, each "
                                         "version once and positive, with checksums (MemorySource's load() "
                                         "checks all three)"),
                          m);
    }
    previous = m.version;
  }
  return outcome::success();
}

// Each placeholder value as the server may spell it back in a message: as
// given, folded to lower case (an unquoted name), and cut where the server
// cuts (a name at 63 bytes, a value in a row's DETAIL at 64 characters).
// Found by review: a table name from a placeholder came back lower-cased
// in "relation ... does not exist", a long one cut, and a value cut in a
// CHECK violation's "Failing row contains (...)".
[[nodiscard]] inline std::vector<std::string> placeholder_spellings(std::vector<std::string> values) {
  std::vector<std::string> out;
  for (auto& v : values) {
    std::string lower = v;
    for (auto& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    for (const std::string* one : {&v, &lower}) {
      for (const std::size_t cut : {std::size_t{63}, std::size_t{64}}) {
        if (one->size() > cut) out.push_back(one->substr(0, cut));
      }
    }
    if (lower != v) out.push_back(std::move(lower));
    out.push_back(std::move(v));
  }
  return out;
}

template <class Timeout, class Source>
[[nodiscard]] result<Target> load(Context<Timeout>& ctx, const Settings& settings, Source& source, BootMode mode) {
  ctx.phase = "loading migrations";
  LOCKSTEP_TRY(migrations, source.load());
  LOCKSTEP_TRYV(check_source(migrations));
  // After the checksums, before anything reads the SQL (substitute.hpp);
  // the values are secrets from here on.
  LOCKSTEP_TRY(values, substitute_placeholders(migrations, settings.placeholders));
  ctx.add_secrets(placeholder_spellings(std::move(values)));
  Target t;
  t.mode = mode;
  t.migrations = std::move(migrations);
  for (auto& m : t.migrations) {
    m.contract = sql::declares_contract(m.sql);
    m.background = sql::declares_background(m.sql);
    m.requires_background = sql::declared_requirement(m.sql);
  }
  LOCKSTEP_TRYV(check_requirements(t.migrations));
  t.chain = DigestChain{t.migrations};
  t.bound = settings.expected_version.value_or(newest_version(t.migrations));
  t.expected = expand_threshold(t.migrations, t.bound);
  for (const auto& m : t.migrations) {
    if (!m.contract && m.version <= t.expected) t.final_version = std::max(t.final_version, m.version);
  }
  ctx.emit(events::Boot{.mode = std::string{to_string(t.mode)},
                        .expected_version = t.expected,
                        .deploy_version = ctx.deploy_version(),
                        .migrations = static_cast<std::int64_t>(t.migrations.size()),
                        .budget_ms = static_cast<std::int64_t>(ctx.budget().count()),
                        .background = ctx.background});
  return t;
}

}  // namespace lockstep::detail
