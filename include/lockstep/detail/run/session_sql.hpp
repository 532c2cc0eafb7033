// SQL the Migrator sends to set up sessions and transactions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lockstep/detail/base/durations.hpp"

namespace lockstep::detail {

// Settings as one statement: `SELECT set_config(...), ...` costs the server
// a fifth of what the same SETs cost one statement each, and the leader
// sends them with every migration. Names and values are lockstep's own
// constants and numbers, never user text.
class SetConfig {
 public:
  explicit SetConfig(bool local) : local_{local} {}
  SetConfig& operator()(std::string_view name, std::string_view value) {
    sql_ += sql_.empty() ? "SELECT " : ", ";
    sql_ += "pg_catalog.set_config('";
    sql_ += name;
    sql_ += "', '";
    sql_ += value;
    sql_ += local_ ? "', true)" : "', false)";
    return *this;
  }
  [[nodiscard]] const std::string& sql() const { return sql_; }

 private:
  bool local_;
  std::string sql_;
};

// Makes the server drop a leader that vanished (node lost, network cut)
// within seconds instead of Linux's ~2 h keepalive default, so its session
// lock frees and a follower takes over:
//  - an idle socket: keepalive probes after 5 s, every 2 s, 3 misses (~11 s);
//  - unacknowledged data: tcp_user_timeout 10 s (PostgreSQL 12+);
//  - a backend busy in a long statement notices a dead client within 1 s
//    (client_connection_check_interval, PostgreSQL 14+);
//  - a leader that is alive on the network but stalled (SIGSTOP, a frozen
//    container) keeps its socket healthy, so only idleness reveals it:
//    idle_session_timeout (PostgreSQL 14+) and idle_in_transaction_session_timeout
//    end a session idle for `stall`; its lock frees and a follower takes over,
//    and when the stalled process wakes its connection is gone, so it can
//    apply nothing more.
// On a Unix socket the TCP settings are ignored by the server.
//
// synchronous_commit = on: a server tuned with synchronous_commit = off
// acknowledges commits it can still lose in a crash. Replicas then start
// against a version that vanishes with the crash (the chaos suite saw a
// recorded migration disappear after a crash and run again). The ledger's
// commits must be durable before anyone is told "ready".
[[nodiscard]] inline std::string leader_session_sql(int server_version, std::chrono::milliseconds stall) {
  const std::string ms = pg_ms(std::max(std::chrono::milliseconds{1}, stall));
  SetConfig set{false};
  set("synchronous_commit", "on")("tcp_keepalives_idle", "5")("tcp_keepalives_interval", "2");
  set("tcp_keepalives_count", "3");
  if (server_version >= 120000) set("tcp_user_timeout", "10000");
  if (server_version >= 140000) set("client_connection_check_interval", "1000")("idle_session_timeout", ms);
  set("idle_in_transaction_session_timeout", ms);
  return set.sql();
}

// What a ledger commit needs, for the current transaction: durability, and
// the stall bound. The transaction-scoped lock's leader has no session of its
// own (a pooler may own it), so that bound travels with each transaction.
[[nodiscard]] inline std::string commit_guarantees_sql(std::chrono::milliseconds stall) {
  return SetConfig{true}("synchronous_commit", "on")(
             "idle_in_transaction_session_timeout", pg_ms(std::max(std::chrono::milliseconds{1}, stall)))
      .sql();
}

[[nodiscard]] inline std::string begin_bounded_sql(std::chrono::milliseconds stall) {
  return "BEGIN; " + commit_guarantees_sql(stall);
}

// A migration may change its session (SET search_path, SET ROLE, SET
// SESSION AUTHORIZATION, a GUC) on purpose; none of it may reach the ledger
// writes or the next migration. Sent after a transactional body, in the
// same round trip as the ledger row and COMMIT. RESET ALL is transactional:
// it takes back what the migration did, but also the leader's own session
// settings, and the COMMIT that follows makes that stick. So when the
// session is the leader's own (a session lock: `server_version` given), its
// bounds are set again here, before COMMIT. Otherwise a leader that died
// right after sending the file (its network cut while it waited for the
// result) left the server a session that holds the lock with no idle bound
// and no keepalive tuning, and every follower waited until the deadline;
// the chaos suite found that. A transaction-scoped lock's session is not
// the leader's (a pooler may own it), so only the ledger commit's own
// guarantees are set, for this transaction.
[[nodiscard]] inline std::string reset_after_body_sql(std::chrono::milliseconds stall,
                                                      std::optional<int> server_version) {
  std::string sql = "RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE; ";
  if (server_version) sql += leader_session_sql(*server_version, stall) + "; ";
  return sql + commit_guarantees_sql(stall);
}

// The same outside a transaction, after a no-transaction migration (and
// after a failure, ROLLBACK first: a file with its own BEGIN may have left
// the session in an aborted transaction, where nothing else would run).
[[nodiscard]] inline std::string reset_session_sql(bool rollback_first, int server_version,
                                                   std::chrono::milliseconds stall) {
  return std::string{rollback_first ? "ROLLBACK; " : ""} + "RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE; " +
         leader_session_sql(server_version, stall);
}

// lock_timeout and statement_timeout, for the transaction (`local`) or the session (no leading ';').
[[nodiscard]] inline std::string timeout_sql(std::chrono::milliseconds lock_timeout,
                                             std::chrono::milliseconds statement_timeout, bool local) {
  return SetConfig{local}("lock_timeout", pg_ms(lock_timeout))("statement_timeout", pg_ms(statement_timeout))
      .sql();
}

// The NOTIFY channel of a migration lock: followers LISTEN, the leader
// NOTIFYs. Derived from the key, so every replica agrees without config.
[[nodiscard]] inline std::string notify_channel(std::int64_t key) {
  static constexpr char hex[] = "0123456789abcdef";
  auto k = static_cast<std::uint64_t>(key);
  std::string name = "\"lockstep_0000000000000000\"";
  for (std::size_t i = 0; i < 16; ++i, k >>= 4) name[name.size() - 2 - i] = hex[k & 0xF];
  return name;
}

[[nodiscard]] inline std::string notify_sql(std::int64_t key, std::string_view payload) {
  return "NOTIFY " + notify_channel(key) + ", '" + std::string{payload} + "'";
}

// LISTEN only on a session of our own: behind a transaction-pooling proxy
// (the server pid differs from the one libpq was given) LISTEN would register
// a pooled server connection that other clients then share. Returns whether
// this session now listens, in one round trip.
[[nodiscard]] inline std::string listen_sql(std::int64_t key, int client_side_pid) {
  const std::string pid = std::to_string(client_side_pid);
  return "DO $lockstep$ BEGIN IF pg_backend_pid() = " + pid + " THEN LISTEN " + notify_channel(key) +
         "; END IF; END $lockstep$; SELECT pg_backend_pid() = " + pid;
}

// Relation locks the current backend holds, for dry-run rehearsals.
inline constexpr const char* own_relation_locks_sql =
    "SELECT coalesce(n.nspname || '.' || c.relname, l.relation::text), l.mode FROM pg_locks l "
    "LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted "
    "AND coalesce(n.nspname, '') NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2";

}  // namespace lockstep::detail
