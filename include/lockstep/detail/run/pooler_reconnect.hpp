// After the run: `RECONNECT <database>` on each PgBouncer admin console
// (Settings::pooler_admin_urls), when this process, as leader, committed a
// migration that changed row types (docs/schema-changes.md). Behind
// PgBouncer 1.21+ with max_prepared_statements, prepared statements live on
// PgBouncer's server connections, so a stale plan outlives every restart
// of the application; RECONNECT closes each server connection once it is
// released and opens a new one, without prepared statements.
//
// Bookkeeping after the commit: it never fails the run (a failure is a
// `warning`), never runs past the deadline (the exchange is budgeted and
// runs on a thread of its own, waited for no longer than what is left of
// the deadline: PQconnectStart resolves the name synchronously), and every
// text it emits is redacted with the admin URL's secrets too.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/detail/base/redact.hpp"
#include "lockstep/detail/run/connect.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/events.hpp"
#include "lockstep/report.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// An admin URL as given, split into what libpq connects with and the
// database to reconnect: `reconnect=NAME` in a URI's query is lockstep's
// (libpq would refuse an unknown parameter), so it is taken out.
struct PoolerUrl {
  std::string url;                      // without reconnect=
  std::optional<std::string> database;  // reconnect=NAME, percent-decoded
};

[[nodiscard]] inline PoolerUrl split_pooler_url(const std::string& url) {
  PoolerUrl out{url, std::nullopt};
  const bool uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  const auto q = url.find('?');
  if (!uri || q == std::string::npos) return out;
  std::string kept;
  std::size_t at = q + 1;
  while (at <= url.size()) {
    auto amp = url.find('&', at);
    if (amp == std::string::npos) amp = url.size();
    const std::string item = url.substr(at, amp - at);
    if (item.starts_with("reconnect=")) {
      std::string name;
      const std::string raw = item.substr(10);
      for (std::size_t i = 0; i < raw.size(); ++i) {
        auto hex = [](char c) {
          return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        };
        if (raw[i] == '%' && i + 2 < raw.size() && hex(raw[i + 1]) >= 0 && hex(raw[i + 2]) >= 0) {
          name += static_cast<char>(hex(raw[i + 1]) * 16 + hex(raw[i + 2]));
          i += 2;
        } else {
          name += raw[i];
        }
      }
      out.database = std::move(name);
    } else if (!item.empty()) {
      kept += (kept.empty() ? "" : "&") + item;
    }
    at = amp + 1;
  }
  out.url = url.substr(0, q) + (kept.empty() ? "" : "?" + kept);
  return out;
}

// "host:port" of a connection string, for events: what libpq will use
// (its defaults when the URL names none).
[[nodiscard]] inline std::string pooler_address(const Conninfo& c) {
  const std::string* host = c.find("host");
  const std::string* addr = c.find("hostaddr");
  const std::string* port = c.find("port");
  const std::string h = host != nullptr && !host->empty() ? *host : addr != nullptr ? *addr : "localhost";
  return h + ":" + (port != nullptr && !port->empty() ? *port : "5432");
}

// RECONNECT's argument: a double-quoted name, as the admin console parses it.
[[nodiscard]] inline std::string reconnect_command(const std::string& database) {
  std::string out = "RECONNECT \"";
  for (char ch : database) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

// libpq_admin_command on a thread of its own. nullopt: `budget` ran out
// first (the thread ends by itself, its own exchange budgeted the same);
// "": done; else why it failed.
[[nodiscard]] inline std::optional<std::string> admin_command_bounded(std::string conninfo, std::string command,
                                                                      std::chrono::milliseconds budget) {
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<std::string> out;
  };
  auto state = std::make_shared<State>();
  try {
    std::thread{[state, conninfo = std::move(conninfo), command = std::move(command), budget]() noexcept {
      std::string why;
      try {
        why = libpq_admin_command(conninfo, command, budget);
      } catch (...) {
        why = "out of memory";
      }
      {
        std::lock_guard lk{state->mutex};
        state->out = std::move(why);
      }
      state->cv.notify_all();
    }}.detach();
  } catch (const std::system_error& ex) {
    return std::string{"cannot start a thread ("} + ex.what() + ")";
  }
  std::unique_lock lk{state->mutex};
  if (!state->cv.wait_for(lk, std::max(budget, std::chrono::milliseconds{0}), [&] { return state->out.has_value(); })) {
    return std::nullopt;
  }
  return state->out;
}

// The versions this process committed whose ledger rows list changed row
// types. When the ledger cannot say (its read failed), every committed
// migration is presumed to have changed some: a needless RECONNECT costs
// new server connections, a missing one leaves stale statements.
template <class Timeout, class Ledger>
[[nodiscard]] std::vector<std::int64_t> row_types_changed_by(Context<Timeout>& ctx, Ledger& ledger, Connection& conn,
                                                             const std::vector<AppliedStep>& applied) {
  std::vector<std::int64_t> out;
  if (applied.empty()) return out;
  if constexpr (requires { ledger.read_schema_changes(conn, std::int64_t{}); }) {
    std::set<std::int64_t> mine;
    for (const auto& step : applied) mine.insert(step.version);
    ctx.phase = "reading which of the applied migrations changed row types";
    auto changes = ledger.read_schema_changes(conn, *mine.begin() - 1);
    if (!changes) {
      ctx.emit(events::Warning{.message = "could not read which migrations changed row types, so the pooler admin "
                                          "consoles are told to reconnect anyway: " + changes.error().message});
      return {mine.begin(), mine.end()};
    }
    for (const auto& c : changes.value()) {
      if (mine.contains(c.version) && !c.relations.empty()) out.push_back(c.version);
    }
  }
  return out;
}

// Sends RECONNECT to every admin console in `settings`, one after another,
// each bounded by what is left of the deadline. `database`: the migration
// URL's, unless an admin URL names its own.
template <class Timeout>
void reconnect_poolers(Context<Timeout>& ctx, const Settings& settings, const std::string& database) {
  for (const auto& given : settings.pooler_admin_urls) {
    const Redactor redact = ctx.redact().with(secrets_in(given));
    const PoolerUrl split = split_pooler_url(given);
    const std::string db = split.database.value_or(database);
    auto warn = [&](const std::string& pooler, const std::string& why) {
      const std::string shown = redact(why);
      ctx.emit(events::PoolerReconnected{.pooler = pooler, .database = db, .ok = false, .message = shown});
      ctx.emit(events::Warning{.message = "RECONNECT " + db + " on the PgBouncer admin console " + pooler +
                                          " failed: " + shown + "; the migrations are committed, but "
                                          "PgBouncer's server connections may keep stale prepared statements until "
                                          "they are replaced (run RECONNECT there by hand: docs/schema-changes.md)"});
    };
    auto parsed = Conninfo::parse(split.url);
    if (!parsed) {
      warn(redact(split.url), parsed.error().message);
      continue;
    }
    const std::string pooler = pooler_address(parsed.value());
    if (ctx.expired()) {
      warn(pooler, "the run's deadline came first");
      continue;
    }
    ctx.phase = "sending RECONNECT to the PgBouncer admin console " + pooler;
    const auto budget = ctx.remaining();
    const std::string conninfo =
        session_conninfo(std::move(parsed).value(), settings.application_name, settings.connect_timeout, budget);
    const auto why = admin_command_bounded(conninfo, reconnect_command(db), budget);
    if (!why) {
      warn(pooler, "the run's deadline came first");
    } else if (!why->empty()) {
      warn(pooler, *why);
    } else {
      ctx.emit(events::PoolerReconnected{.pooler = pooler, .database = db, .ok = true});
    }
  }
}

}  // namespace lockstep::detail
