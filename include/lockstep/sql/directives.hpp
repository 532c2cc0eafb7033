// Per-migration directives, written as comments before the first statement:
//
//   -- lockstep:no-transaction         run outside a transaction, statement by statement
//   -- lockstep:lock-timeout=5s        SET lock_timeout for this migration
//   -- lockstep:statement-timeout=10min
//   -- lockstep:phase=contract         removes what older app code uses: runs only
//                                      once no replica of an older image is alive
//                                      (the default, phase=expand, runs at boot)
//   -- lockstep:allow=<rule> <reason>  accepts a finding of any rule on purpose
//                                      (checks/rules.hpp); recorded in the ledger
//   -- lockstep:background             a batch file: the boot only queues it, and
//   -- lockstep:batch-over=<table>(<key>[, <key>...])   replicas run it batch by
//   -- lockstep:batch-size=<rows>      batch afterwards (docs/background.md)
//   -- lockstep:background with -- lockstep:no-transaction: long statements
//                                      (CREATE INDEX CONCURRENTLY, VALIDATE
//                                      CONSTRAINT, ...) run by a runner, one at a time
//   -- lockstep:window=01:00-05:00     a background job's work starts only
//                                      between these times (UTC, the server's clock)
//   -- lockstep:after=old-replicas-gone a background job starts only once no
//                                      replica of an older image is alive
//   -- lockstep:requires=billing@42    runs only once the service `billing`
//                                      (its ledger, docs/services.md) has
//                                      reached version 42: the leader waits,
//                                      within the deadline (several: comma-separated)
//   -- lockstep:requires-background=<version>   runs only once that background
//                                      migration's job has succeeded: an expand
//                                      migration finishes it inline within
//                                      Settings::finalize_budget or refuses the
//                                      boot with its ETA; a contract one waits
//   -- lockstep:check SELECT <boolean>  evaluated by the leader under the lock,
//                                      right before the migration runs, in its
//                                      transaction and read-only; false or NULL
//                                      fails the migration (recorded: the deploy
//                                      stops once, not once per replica). One
//                                      SELECT per line; several lines allowed
//
// Durations take ms, s, min or h (0 disables the timeout). Any other comment
// starting with "lockstep" is an error, so a typo cannot silently turn a
// directive into a plain comment.
#pragma once

#include <algorithm>

#include <charconv>
#include <cstdint>
#include <map>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/checks/rules.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

// `-- lockstep:batch-over=public.orders(id)`: the table a background
// migration walks and the key it walks it by (a primary key or a unique
// NOT NULL key; composite keys compare as a row).
struct BatchOver {
  std::string relation;              // as written: the server resolves it (to_regclass)
  std::vector<std::string> columns;  // unquoted names, in order
};

// `-- lockstep:window=22:00-04:30`: minutes of the day (UTC) from which a
// background job's batches or statements may start, and until which; a
// window that ends before it begins spans midnight.
struct TimeWindow {
  int from_minute = 0;
  int to_minute = 0;

  [[nodiscard]] bool contains(int minute_of_day) const noexcept {
    if (from_minute <= to_minute) return minute_of_day >= from_minute && minute_of_day < to_minute;
    return minute_of_day >= from_minute || minute_of_day < to_minute;
  }
  [[nodiscard]] std::string text() const { return hhmm(from_minute) + "-" + hhmm(to_minute) + " UTC"; }

  // A minute of the day as "HH:MM".
  [[nodiscard]] static std::string hhmm(int minute_of_day) {
    const int h = minute_of_day / 60;
    const int m = minute_of_day % 60;
    return std::string{static_cast<char>('0' + h / 10), static_cast<char>('0' + h % 10), ':',
                       static_cast<char>('0' + m / 10), static_cast<char>('0' + m % 10)};
  }
};

// `-- lockstep:requires=billing@42`: another service's schema this file needs.
struct ServiceRequirement {
  std::string service;
  std::int64_t version = 0;
  int line = 0;

  [[nodiscard]] std::string text() const { return service + "@" + std::to_string(version); }
  friend bool operator==(const ServiceRequirement&, const ServiceRequirement&) = default;
};

// A service's name (its ledger table, TableLedger{"lockstep", name}): a
// lower-case identifier short enough for its companion tables' names, and
// none of the names the default ledger's own tables take.
[[nodiscard]] inline std::optional<std::string> service_name_problem(std::string_view name) {
  static constexpr std::string_view taken[] = {"deploys", "failures", "replicas", "head", "jobs", "services"};
  const bool shape = !name.empty() && name.size() <= 40 && name[0] >= 'a' && name[0] <= 'z' &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                     });
  if (!shape) {
    return "a service name is a lower-case identifier of at most 40 characters (letters, digits, '_'), "
           "not '" + std::string{name} + "'";
  }
  for (auto t : taken) {
    if (name == t) return "'" + std::string{name} + "' names one of the ledger's own tables; choose another service name";
  }
  return std::nullopt;
}

// `-- lockstep:check SELECT ...`: a condition the migration needs, as written
// (one SELECT returning one boolean), and the line it is on.
struct PreCheck {
  std::string sql;
  int line = 0;
};

struct Directives {
  bool no_transaction = false;
  bool background = false;
  std::optional<BatchOver> batch_over;
  std::optional<std::int64_t> batch_size;
  std::optional<TimeWindow> window;  // -- lockstep:window=HH:MM-HH:MM
  int background_line = 0;  // where `lockstep:background` is written (for errors at queue time)
  bool after_old_replicas_gone = false;       // a background job waits for older images to leave
  std::optional<std::int64_t> requires_background;  // the background migration that must have finished
  int requires_line = 0;  // where `lockstep:requires-background` is written
  std::vector<ServiceRequirement> requires_services;  // -- lockstep:requires=svc@V[, svc@V]
  std::optional<std::chrono::milliseconds> lock_timeout;
  std::optional<std::chrono::milliseconds> statement_timeout;
  bool contract = false;
  std::map<std::string, std::string> allow;  // rule id (checks/rules.hpp) -> why it is accepted
  std::vector<PreCheck> checks;              // -- lockstep:check SELECT ..., in file order

  // Long statements run in the background (background + no-transaction):
  // a runner runs them one by one; the boot only queues the job.
  [[nodiscard]] bool long_statements() const noexcept { return background && no_transaction; }
  // How the boot sends the file: a background migration's boot queues its
  // job in a transaction, whatever the runner does with its statements.
  [[nodiscard]] bool boot_in_transaction() const noexcept { return !no_transaction || background; }
};

namespace detail {

[[nodiscard]] inline std::optional<std::chrono::milliseconds> parse_pg_duration(std::string_view v) {
  long long n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || n < 0) return std::nullopt;
  n = std::min(n, 1'000'000'000'000LL);  // no overflow below; still "too long" for PostgreSQL
  const std::string_view unit{ptr, static_cast<std::size_t>(v.data() + v.size() - ptr)};
  if (unit == "ms") return std::chrono::milliseconds{n};
  if (unit == "s") return std::chrono::seconds{n};
  if (unit == "min") return std::chrono::minutes{n};
  if (unit == "h") return std::chrono::hours{n};
  if (unit.empty() && n == 0) return std::chrono::milliseconds{0};
  return std::nullopt;
}

// "HH:MM" -> minutes of the day; nullopt when it is not a time of day.
[[nodiscard]] inline std::optional<int> parse_time_of_day(std::string_view v) {
  if (v.size() != 5 || v[2] != ':') return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
  }
  const int h = (v[0] - '0') * 10 + (v[1] - '0');
  const int m = (v[3] - '0') * 10 + (v[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

// "01:00-05:30" -> a window; nullopt when it is not of that shape or empty.
[[nodiscard]] inline std::optional<TimeWindow> parse_window(std::string_view v) {
  const auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto from = parse_time_of_day(v.substr(0, dash));
  const auto to = parse_time_of_day(v.substr(dash + 1));
  if (!from || !to || *from == *to) return std::nullopt;
  return TimeWindow{*from, *to};
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && detail::space(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && detail::space(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "public.orders(id, \"Tenant\")" -> relation and key columns; nullopt when
// it is not of that shape. Read with the lexer every rule reads SQL with:
// names fold to lower case unless double-quoted, as the server folds them.
[[nodiscard]] inline std::optional<BatchOver> parse_batch_over(std::string_view v) {
  const auto tokens = lex(v);
  std::size_t i = 0;
  // The relation: name (. name)*, kept as written (the server resolves it).
  while (i < tokens.size() && tokens[i].is_name()) {
    ++i;
    if (i < tokens.size() && tokens[i].is_punct('.')) ++i;
    else break;
  }
  if (i == 0 || i >= tokens.size() || !tokens[i].is_punct('(') || !tokens.back().is_punct(')')) return std::nullopt;
  BatchOver b;
  b.relation = std::string{trim(v.substr(0, tokens[i].offset))};
  for (++i; i + 1 < tokens.size(); i += 2) {
    if (!tokens[i].is_name() || tokens[i].folded.empty()) return std::nullopt;
    b.columns.push_back(tokens[i].folded);
    if (!tokens[i + 1].is_punct(i + 2 == tokens.size() ? ')' : ',')) return std::nullopt;
  }
  if (b.columns.empty() || i != tokens.size()) return std::nullopt;
  return b;
}

// `requires=` values, "billing@42, auth@7", appended to `out`; the reason
// when they cannot be read. Shared by the directives and by
// declared_service_requirements (lint across services).
[[nodiscard]] inline std::optional<std::string> parse_service_requirements(std::string_view value, int line,
                                                                         std::vector<ServiceRequirement>& out) {
  std::string_view rest = value;
  for (;;) {
    const auto comma = rest.find(',');
    const std::string_view one = trim(rest.substr(0, comma));
    const auto at = one.find('@');
    std::int64_t n = 0;
    bool ok = at != std::string_view::npos && at > 0;
    if (ok) {
      const auto v = one.substr(at + 1);
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      ok = ec == std::errc{} && end == v.data() + v.size() && n > 0;
    }
    if (!ok) {
      return "lockstep:requires takes another service's name and version, such as requires=billing@42 "
             "(several: requires=billing@42, auth@7), not '" + std::string{one} + "'";
    }
    const std::string_view name = one.substr(0, at);
    if (auto problem = service_name_problem(name)) return "lockstep:requires: " + *problem;
    for (const auto& r : out) {
      if (r.service == name) return "lockstep:requires names the service '" + std::string{name} + "' twice";
    }
    out.push_back(ServiceRequirement{std::string{name}, n, line});
    if (comma == std::string_view::npos) return std::nullopt;
    rest = rest.substr(comma + 1);
  }
}

// `-- lockstep:check <sql>`: one SELECT, nothing else (a second statement,
// or a write, would run under the migration's lock without being the
// migration). The server enforces read-only at run time; this refuses at
// pre-flight what is visibly not a query. Returns why not, or nullopt.
[[nodiscard]] inline std::optional<std::string> bad_check(std::string_view text, std::string& sql_out) {
  if (text.empty()) {
    return std::string{"lockstep:check needs a query on the same line, such as "
                       "`-- lockstep:check SELECT count(*) = 0 FROM orders WHERE total IS NULL`"};
  }
  auto statements = split(text);
  if (!statements) return "lockstep:check cannot be read as SQL: " + statements.error().message;
  if (statements.value().size() != 1) {
    return "lockstep:check takes one SELECT, but '" + std::string{text} + "' holds " +
           std::to_string(statements.value().size()) + " statements; give each condition its own "
           "`-- lockstep:check` line";
  }
  const auto& st = statements.value().front();
  const auto tokens = lex(st.text(text), 1);
  if (tokens.empty() || !tokens.front().is("select")) {
    return "lockstep:check takes a read-only SELECT returning one boolean, not '" + std::string{text} +
           "' (a check only reads: it runs under the migration's lock, before the migration)";
  }
  sql_out = std::string{st.text(text)};
  return std::nullopt;
}

}  // namespace detail

inline constexpr std::string_view known_directives =
    "lockstep:no-transaction, lockstep:lock-timeout=<duration>, lockstep:statement-timeout=<duration>, "
    "lockstep:phase=expand|contract, lockstep:allow=<rule> <reason>, lockstep:background, "
    "lockstep:batch-over=<table>(<key column>[, ...]), lockstep:batch-size=<rows>, "
    "lockstep:after=old-replicas-gone, lockstep:requires=<service>@<version>, lockstep:requires-background=<version>, "
    "lockstep:window=<HH:MM>-<HH:MM>, lockstep:check SELECT <boolean>";

// What a set of directives cannot mean together, for a background file.
[[nodiscard]] inline std::optional<std::string> background_conflict(const Directives& d) {
  if (!d.background) {
    if (d.batch_over || d.batch_size) {
      return std::string{"lockstep:batch-over and lockstep:batch-size apply to a background migration only; add "
                         "`-- lockstep:background` (the boot then only queues it) or remove them"};
    }
    if (d.after_old_replicas_gone) {
      return std::string{"lockstep:after=old-replicas-gone applies to a background migration only (its job starts "
                         "once older images are gone); a migration that must wait for them is phase=contract"};
    }
    if (d.window) {
      return std::string{"lockstep:window applies to a background migration only (when its runners may work); "
                         "a boot's migration runs when the image starts"};
    }
    return std::nullopt;
  }
  if (d.contract) {
    return std::string{"a background migration cannot be phase=contract: it runs while every replica serves. Put "
                       "what removes old code's columns in a later contract file"};
  }
  if (d.no_transaction) {
    // Long statements: each runs once, whole, so there is no batch to walk.
    if (d.batch_over || d.batch_size) {
      return std::string{"lockstep:batch-over and lockstep:batch-size do not apply to long statements "
                         "(lockstep:background with lockstep:no-transaction: a runner runs each statement once, "
                         "whole); remove them, or remove lockstep:no-transaction to batch the file"};
    }
    return std::nullopt;
  }
  if (!d.batch_over) {
    return std::string{"a background migration needs `-- lockstep:batch-over=<table>(<key>)`: the table it walks "
                       "and its primary key or a unique NOT NULL key, e.g. `-- lockstep:batch-over=public.orders(id)`"};
  }
  return std::nullopt;
}

// `prefix_end`: where the first statement starts (directives may only come before it).
[[nodiscard]] inline result<Directives> parse_directives(std::string_view sql, std::size_t prefix_end) {
  Directives d;
  const LineIndex lines{sql};
  std::set<std::string_view> seen;  // keys read so far (views into `sql`)
  std::size_t pos = 0;
  while (pos < prefix_end) {
    auto eol = sql.find('\n', pos);
    if (eol == std::string_view::npos) eol = sql.size();
    const std::string_view line = detail::trim(sql.substr(pos, eol - pos));
    const std::size_t line_at = pos;
    pos = eol + 1;
    if (!line.starts_with("--")) continue;
    const std::string_view body = detail::trim(line.substr(2));
    if (body.size() < 8 || !detail::iequals(body.substr(0, 8), "lockstep")) continue;
    auto bad = [&](const std::string& why) {
      auto e = make_error(errc::source_invalid, why + "; known directives: " + std::string{known_directives});
      const auto p = lines.at(line_at);
      e.line = p.line;
      e.column = 1;
      return e;
    };
    if (body.size() < 9 || body[8] != ':') return bad("'" + std::string{body} + "' looks like a lockstep directive but is not one");
    const std::string_view spec = detail::trim(body.substr(9));
    // A check's SQL may hold '=' (and anything else): the key is the first word.
    if (spec == "check" || (spec.starts_with("check") && detail::space(static_cast<unsigned char>(spec[5])))) {
      PreCheck c;
      c.line = lines.at(line_at).line;
      if (auto why = detail::bad_check(detail::trim(spec.substr(5)), c.sql)) return bad(*why);
      d.checks.push_back(std::move(c));
      continue;
    }
    const auto eq = spec.find('=');
    const std::string_view key = detail::trim(spec.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : detail::trim(spec.substr(eq + 1));
    if (key == "allow") {
      const auto space = value.find_first_of(" \t");
      const std::string_view rule = value.substr(0, space);
      const std::string_view reason = space == std::string_view::npos ? std::string_view{} : detail::trim(value.substr(space));
      const checks::Rule* known = checks::find_rule(rule);
      if (known == nullptr) {
        return bad("lockstep:allow names '" + std::string{rule} + "', which is not a rule (" + checks::rule_ids() +
                   ")");
      }
      if (known->fixed) {
        return bad("lockstep:allow=" + std::string{rule} + " cannot be given: the rule keeps a promise (a migration "
                   "is recorded only when its work is committed, exactly once), so it is always an error");
      }
      if (reason.empty()) {
        return bad("lockstep:allow=" + std::string{rule} + " needs a reason after the rule id, for the ledger and "
                   "the next reader (e.g. `-- lockstep:allow=" + std::string{rule} + " table has 40 rows`)");
      }
      if (!d.allow.emplace(std::string{rule}, std::string{reason}).second)
        return bad("lockstep:allow=" + std::string{rule} + " is given twice; keep one");
      continue;
    }
    // Two of the same would leave the reader to guess which one counts.
    if (!seen.insert(key).second) return bad("lockstep:" + std::string{key} + " is given twice; keep one");
    if (key == "no-transaction" && eq == std::string_view::npos) {
      d.no_transaction = true;
    } else if (key == "lock-timeout" || key == "statement-timeout") {
      const auto dur = detail::parse_pg_duration(value);
      if (!dur) return bad("lockstep:" + std::string{key} + " needs a duration such as 5s, 500ms or 2min, not '" + std::string{value} + "'");
      // PostgreSQL takes at most INT_MAX ms (about 24.8 days); a larger value
      // would pass here and fail mid-deploy, after earlier migrations ran.
      if (dur->count() > 2147483647) {
        return bad("lockstep:" + std::string{key} + "=" + std::string{value} +
                   " is longer than PostgreSQL allows (2147483647 ms, about 24 days); use a shorter duration, "
                   "or 0 for none");
      }
      (key == "lock-timeout" ? d.lock_timeout : d.statement_timeout) = *dur;
    } else if (key == "phase") {
      if (value != "expand" && value != "contract") {
        return bad("lockstep:phase takes expand (the default: runs at boot) or contract (runs once no replica "
                   "of an older image is alive), not '" + std::string{value} + "'");
      }
      d.contract = value == "contract";
    } else if (key == "background" && eq == std::string_view::npos) {
      d.background = true;
      d.background_line = lines.at(line_at).line;
    } else if (key == "batch-over") {
      d.batch_over = detail::parse_batch_over(value);
      if (!d.batch_over) {
        return bad("lockstep:batch-over takes a table and its key, such as public.orders(id) or "
                   "events(tenant_id, id), not '" + std::string{value} + "'");
      }
    } else if (key == "window") {
      d.window = detail::parse_window(value);
      if (!d.window) {
        return bad("lockstep:window takes two times of day (UTC, the server's clock) such as 01:00-05:00 or "
                   "22:00-04:30, not '" + std::string{value} + "'");
      }
    } else if (key == "after") {
      if (value != "old-replicas-gone") {
        return bad("lockstep:after takes old-replicas-gone (the job starts once no replica of an older image is "
                   "alive), not '" + std::string{value} + "'");
      }
      d.after_old_replicas_gone = true;
    } else if (key == "requires") {
      if (auto wrong = detail::parse_service_requirements(value, lines.at(line_at).line, d.requires_services)) {
        return bad(*wrong);
      }
    } else if (key == "requires-background") {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || n < 1) {
        return bad("lockstep:requires-background takes the version of a background migration, such as "
                   "requires-background=42, not '" + std::string{value} + "'");
      }
      d.requires_background = n;
      d.requires_line = lines.at(line_at).line;
    } else if (key == "batch-size") {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || n < 1 || n > 1'000'000) {
        return bad("lockstep:batch-size takes a number of rows from 1 to 1000000, not '" + std::string{value} + "'");
      }
      d.batch_size = n;
    } else {
      return bad("unknown directive 'lockstep:" + std::string{spec} + "'");
    }
  }
  if (auto wrong = background_conflict(d)) {
    auto e = make_error(errc::source_invalid, *wrong);
    e.line = d.background_line > 0 ? d.background_line : 1;
    e.column = 1;
    return e;
  }
  return d;
}

// The value of directive `key` among the file's leading comment lines, read
// without splitting the file: the source is loaded on every boot. Pre-flight
// parses the directives in full and must agree (checks/check.hpp), so a
// directive this misses cannot silently change what the boot does.
// nullopt: not given; "" for a directive without a value.
[[nodiscard]] inline std::optional<std::string_view> leading_directive(std::string_view sql, std::string_view key) {
  std::size_t pos = 0;
  while (pos < sql.size()) {
    auto eol = sql.find('\n', pos);
    if (eol == std::string_view::npos) eol = sql.size();
    const std::string_view line = detail::trim(sql.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty()) continue;
    if (!line.starts_with("--")) return std::nullopt;
    const std::string_view body = detail::trim(line.substr(2));
    if (body.size() < 9 || !detail::iequals(body.substr(0, 9), "lockstep:")) continue;
    const std::string_view spec = detail::trim(body.substr(9));
    const auto eq = spec.find('=');
    if (detail::trim(spec.substr(0, eq)) != key) continue;
    return eq == std::string_view::npos ? std::string_view{} : detail::trim(spec.substr(eq + 1));
  }
  return std::nullopt;
}

// Whether the file declares phase=contract.
[[nodiscard]] inline bool declares_contract(std::string_view sql) {
  return leading_directive(sql, "phase") == std::optional<std::string_view>{"contract"};
}

// Whether the file is a background migration (`-- lockstep:background`).
[[nodiscard]] inline bool declares_background(std::string_view sql) {
  return leading_directive(sql, "background") == std::optional<std::string_view>{""};
}

// The background migration the file requires (`-- lockstep:requires-background=V`);
// 0: none, or not a number (pre-flight says so).
[[nodiscard]] inline std::int64_t declared_requirement(std::string_view sql) {
  const auto v = leading_directive(sql, "requires-background");
  if (!v) return 0;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  return ec == std::errc{} && end == v->data() + v->size() && n > 0 ? n : 0;
}

// The other services' versions the file requires (`-- lockstep:requires=`),
// read from its leading comments as the boot reads them; none when the
// directive cannot be read (pre-flight says why).
[[nodiscard]] inline std::vector<ServiceRequirement> declared_service_requirements(std::string_view sql) {
  std::vector<ServiceRequirement> out;
  std::size_t pos = 0;
  int line = 0;
  while (pos < sql.size()) {
    auto eol = sql.find('\n', pos);
    if (eol == std::string_view::npos) eol = sql.size();
    const std::string_view text = detail::trim(sql.substr(pos, eol - pos));
    pos = eol + 1;
    ++line;
    if (text.empty()) continue;
    if (!text.starts_with("--")) break;
    const std::string_view body = detail::trim(text.substr(2));
    if (body.size() < 9 || !detail::iequals(body.substr(0, 9), "lockstep:")) continue;
    const std::string_view spec = detail::trim(body.substr(9));
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos || detail::trim(spec.substr(0, eq)) != "requires") continue;
    if (detail::parse_service_requirements(detail::trim(spec.substr(eq + 1)), line, out)) return {};
  }
  return out;
}

}  // namespace lockstep::sql
