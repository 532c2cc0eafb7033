// A migration that needs another service's schema
// (`-- lockstep:requires=billing@42`, docs/services.md): the leader reaches
// it before billing's ledger holds version 42. It waits instead of failing,
// like a follower: it reads the service catalog
// (ledger/service_catalog.hpp), LISTENs on its channel so that billing's
// commit wakes it at once, and gives up at the run's deadline with an error
// naming what it waited for. It waits before the migration's transaction is
// opened, holding only its own service's session lock (a transaction-scoped
// lock's leader lets it go first: lead.hpp), and each wait on the socket is
// shorter than the session's idle bound, which the catalog read between two
// waits resets.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/detail/base/ledger_fields.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/preflight.hpp"
#include "lockstep/error.hpp"
#include "lockstep/ledger/service_catalog.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/settings.hpp"
#include "lockstep/sql/directives.hpp"

namespace lockstep::detail {

template <class Timeout, class Ledger>
class ServiceWaits {
 public:
  ServiceWaits(Context<Timeout>& ctx, const Settings& settings, Ledger& ledger, Prepared& prepared)
      : ctx_{ctx}, settings_{settings}, ledger_{ledger}, prepared_{prepared} {}

  // Whether every service `m` requires has reached its version (a read: in
  // a transaction too).
  [[nodiscard]] result<bool> met(Connection& conn, const Migration& m) {
    LOCKSTEP_TRY(p, prepared_.get(m));
    for (const auto& r : p->directives.requires_services) {
      LOCKSTEP_TRY(at, version_of(conn, r.service));
      if (at < r.version) return false;
    }
    return true;
  }

  // Waits, outside any transaction, until every service `m` requires has
  // reached its version, or the deadline.
  [[nodiscard]] result<void> await(Connection& conn, const Migration& m) {
    LOCKSTEP_TRY(p, prepared_.get(m));
    if (p->directives.requires_services.empty()) return outcome::success();
    if constexpr (!requires { ledger_.catalog(); }) {
      auto e = make_error(errc::source_invalid,
                          "migration " + std::to_string(m.version) + " (" + m.origin + ") requires another service "
                          "(lockstep:requires), and this Ledger policy keeps no service catalog to learn where "
                          "other services stand (see TableLedger and docs/services.md)");
      e.version = m.version;
      e.file = m.origin;
      return e;
    } else {
      bool listening = false;
      for (const auto& r : p->directives.requires_services) {
        auto reached = await_one(conn, m, r, listening);
        if (!reached) {
          finish(conn, listening);
          return std::move(reached).error();
        }
      }
      finish(conn, listening);
      return outcome::success();
    }
  }

 private:
  [[nodiscard]] result<void> await_one(Connection& conn, const Migration& m, const sql::ServiceRequirement& r,
                                       bool& listening) {
    ctx_.phase = "waiting for service " + r.text() + ", which migration " + std::to_string(m.version) + " (" +
                 m.origin + ") requires";
    auto delay = std::chrono::milliseconds{100};
    std::optional<std::chrono::steady_clock::time_point> told;
    for (;;) {
      LOCKSTEP_TRY(at, version_of(conn, r.service));
      if (at >= r.version) return outcome::success();
      const auto now = std::chrono::steady_clock::now();
      if (!told || now - *told >= settings_.progress_interval) {
        ctx_.emit(events::ServiceWaiting{.version = m.version, .name_ = m.name, .file = m.origin,
                                         .service = r.service, .requires_version = r.version, .service_version = at,
                                         .line = r.line});
        if (!told) {
          // For `lockstep status --services`: who waits for whom. Bookkeeping: never the wait's failure.
          (void)ledger_.catalog().set_waiting(conn, ledger_.service(), ledger_.identity(), ledger_.qualified_table(),
                                              r.text());
          if (!listening) listening = static_cast<bool>(conn.execute(std::string{"LISTEN "} + services_channel));
        }
        told = now;
      }
      // It gives up a moment before the deadline, while its connection is
      // still its own: at the deadline the watchdog shuts the socket, and the
      // error would be that, not what it waited for (found by review), with
      // waiting_for left set.
      if (ctx_.remaining() <= give_up_margin) return unmet(m, r, at);
      // Below the leader session's idle bound (stall_timeout), which the
      // catalog read above resets; woken at once by the service's commit.
      const auto cap = std::max(std::chrono::milliseconds{1}, settings_.stall_timeout / 2);
      const auto wait = std::min({delay, cap, ctx_.remaining() - give_up_margin});
      if (listening) {
        LOCKSTEP_TRY(woke, conn.await_notification(wait));
        (void)woke;
      } else {
        std::this_thread::sleep_for(wait);
      }
      delay = std::min(delay * 2, std::chrono::milliseconds{5000});
      if (ctx_.remaining() <= give_up_margin) return unmet(m, r, at);
    }
  }

  // Where `service` stands: the newer of its catalog row and, where this
  // role may read it, its ledger itself (a ledger from before the catalog,
  // or one whose leader may not write the catalog: never trusted alone,
  // found by review).
  [[nodiscard]] result<std::int64_t> version_of(Connection& conn, const std::string& service) {
    if constexpr (requires { ledger_.catalog(); }) {
      LOCKSTEP_TRY(row, ledger_.catalog().read(conn, service));
      const std::int64_t listed = row ? row->version : 0;
      const std::string table = quote_ident(ledger_.schema()) + "." + quote_ident(service);
      auto rows = conn.query("SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE "
                             "has_table_privilege($1, 'SELECT') END",
                             table);
      if (!rows || rows.value().empty() || rows.value()[0][0].value_or("f") != "t") return listed;
      auto head = conn.query("SELECT coalesce(max(version), 0) FROM " + table);
      if (!head || head.value().empty()) return listed;
      return std::max(listed, to_int64(head.value()[0][0]));
    } else {
      return std::int64_t{0};
    }
  }

  void finish(Connection& conn, bool listening) {
    if (!conn.is_open()) return;
    if (listening) (void)conn.execute(std::string{"UNLISTEN "} + services_channel);
    if constexpr (requires { ledger_.catalog(); }) {
      (void)ledger_.catalog().set_waiting(conn, ledger_.service(), ledger_.identity(), ledger_.qualified_table(), "");
    }
  }

  [[nodiscard]] Error unmet(const Migration& m, const sql::ServiceRequirement& r, std::int64_t at) const {
    auto e = make_error(errc::deadline_exceeded,
                        "migration " + std::to_string(m.version) + " (" + m.origin + ":" + std::to_string(r.line) +
                            ") requires service " + r.service + " at version " + std::to_string(r.version) +
                            " (lockstep:requires=" + r.text() + "), and " + r.service +
                            (at > 0 ? " is at version " + std::to_string(at) : std::string{" has no version yet"}) +
                            " after waiting until the deadline; deploy " + r.service + "'s migration " +
                            std::to_string(r.version) + " first (lockstep status --services shows every service), "
                            "or raise the timeout. Nothing of migration " + std::to_string(m.version) + " ran");
    e.version = m.version;
    e.file = m.origin;
    e.line = r.line;
    return e;
  }

  static constexpr std::chrono::milliseconds give_up_margin{300};

  Context<Timeout>& ctx_;
  const Settings& settings_;
  Ledger& ledger_;
  Prepared& prepared_;
};

}  // namespace lockstep::detail
