// A client that froze (SIGSTOP, a paused VM, a CPU-starved pod) while its
// session held a lock. Its socket stays healthy, so keepalives never fire;
// only the server's idle timeouts can free what it held. Every place where
// lockstep holds a lock across round trips must have armed one before it
// took the lock, or one frozen replica wedges every other.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {


bool backend_alive(const TestDatabase &db, const std::string &pid) {
  return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "1";
}

bool holds_registry_lock(const TestDatabase &db, const std::string &pid) {
  return db.scalar("SELECT count(*) FROM pg_locks WHERE pid = " + pid +
                   " AND relation = 'lockstep.replicas'::regclass AND granted") != "0";
}

// A session's state once the server has answered it (no longer "active");
// empty once the session is gone.
std::string settled_state(const TestDatabase &db, const std::string &pid) {
  std::string state;
  (void)time_until(
      [&] {
        state = db.scalar("SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = " + pid);
        return state != "active";
      },
      5s);
  return state;
}

// One `lockstep replica` (a beat every second, `lease`), registered; its
// next registration is made to wait on the ledger (`hold_ledger`).
struct RegisteringReplica {
  TempDir dir;
  TempDir out;
  Herd herd;
  pid_t pid = 0;
  std::string backend;  // the session of the registration waiting on the ledger

  RegisteringReplica(const TestDatabase &db, const std::string &tag, const std::string &lease)
      : dir{tag}, out{tag + "-out"}, herd{out.path()} {
    dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
    herd.spawn(1, {cli_path(), "replica", "--dir", dir.path().string(), "--url", db.url(), "--deploy-version", "v1",
                   "--heartbeat", "1s", "--lease", lease, "--timeout", "60s"});
    herd.release();
    REQUIRE(herd.wait_for_output("\"event\":\"replica_registered\"", 30s) == 0);
    pid = herd.children()[0].pid;
  }

  // Locks the ledger on `holder` and lapses the lease: the next beat
  // registers again and waits on the ledger, holding the registry's ROW
  // EXCLUSIVE lock. Sets `backend`.
  void hold_ledger(const TestDatabase &db, Connection &holder) {
    REQUIRE(holder.execute("BEGIN; LOCK TABLE lockstep.migrations IN ACCESS EXCLUSIVE MODE"));
    (void)db.scalar("DELETE FROM lockstep.replicas");
    const auto waiting = time_until(
        [&] {
          backend = db.scalar(
              "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
              "WHERE a.wait_event_type = 'Lock' AND l.relation = 'lockstep.replicas'::regclass "
              "AND l.mode = 'RowExclusiveLock' AND l.granted");
          return !backend.empty();
        },
        10s);
    REQUIRE(waiting < 10s);
  }
};

// TryLock, except that the first time it takes the lock the process
// "freezes": this thread stops using the connection, as a SIGSTOPped
// process would, and watches from another session how long the server
// keeps the frozen one.
struct FreezesAfterAcquire {
  struct Seen {
    std::string url;
    std::chrono::milliseconds freeze{4000};
    bool frozen = false;
    std::chrono::milliseconds session_ended_after{-1};  // -1: still there when the freeze ended
  };
  std::shared_ptr<Seen> seen = std::make_shared<Seen>();
  TryLock inner;

  [[nodiscard]] result<bool> try_acquire(Connection &conn, std::int64_t key, std::chrono::milliseconds budget) {
    auto got = inner.try_acquire(conn, key, budget);
    if (!got || !got.value() || seen->frozen) return got;
    seen->frozen = true;
    auto watcher = Connection::open(seen->url);
    if (!watcher) return got;
    const std::string pid = std::to_string(conn.backend_pid());
    const auto took = time_until(
        [&] {
          auto rows = watcher.value().query("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid);
          return rows && !rows.value().empty() && rows.value()[0][0].value_or("1") == "0";
        },
        seen->freeze);
    if (took < seen->freeze) seen->session_ended_after = took;
    return got;
  }
  [[nodiscard]] result<void> release(Connection &conn, std::int64_t key) { return inner.release(conn, key); }
  [[nodiscard]] static std::string held_check_sql(std::int64_t key) { return TryLock::held_check_sql(key); }
};

// A follower's wait that ignores the stall bound: always 3 s.
struct SlowPoll {
  [[nodiscard]] std::chrono::milliseconds next_delay(unsigned /*attempt*/) const { return 3000ms; }
};

Settings frozen_settings(const std::string &url, EventLog &log, std::chrono::milliseconds stall) {
  Settings s;
  s.database_url = url;
  s.deploy_version = "v-frozen";
  s.stall_timeout = stall;
  s.on_event = log.sink();
  return s;
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("frozen client: the server frees what its session held" * doctest::test_suite("pg_sample")) {
    SUBCASE(
        "a leader frozen right after it took the session lock loses it "
        "within stall_timeout") {
      TestDatabase db{"frozen_leader"};
      EventLog log;
      FreezesAfterAcquire lock;
      lock.seen->url = db.url();
      MemorySource source{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);"}};
      Migrator<FreezesAfterAcquire, ExponentialBackoff, Deadline<>, MemorySource> m{frozen_settings(db.url(), log, 1000ms),
                                                                                    source, lock};
      auto r = m.run();
      REQUIRE(lock.seen->frozen);
      // Armed before the lock was tried: the server ends the idle session
      // after stall_timeout (1 s) and the lock goes with it.
      CHECK(lock.seen->session_ended_after >= 0ms);
      CHECK(lock.seen->session_ended_after < 3000ms);
      // When it "wakes", its connection is gone: it reconnects and leads.
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("reconnecting") >= 1);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 1") == 1);
    }

    SUBCASE(
        "a leader frozen right after a migration committed loses the session "
        "lock within stall_timeout") {
      // The commit goes in the same round trip as the file and the session
      // reset that follows it; the gap before the next migration's first
      // round trip is where a leader's process or network most often dies
      // (the result of a long file is what it waits for). The chaos suite
      // found a network-cut leader wedging 15 followers there for the
      // whole deadline.
      TestDatabase db{"frozen_between"};
      EventLog log;
      auto s = frozen_settings(db.url(), log, 1000ms);
      const EventSink record = log.sink();
      std::chrono::milliseconds lock_freed_after{-1};
      bool frozen = false;
      s.on_event = [&](const Event &e) {
        record(e);
        if (e.name != "migration_applied" || frozen) return;
        frozen = true;  // this thread stops using the connection, as a SIGSTOPped process would
        const auto took = time_until(
            [&] {
              // This database's only: tests running beside this one hold their own.
              return db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                               "(SELECT oid FROM pg_database WHERE datname = current_database())") == "0";
            },
            4000ms);
        if (took < 4000ms) lock_freed_after = took;
      };
      MemorySource source{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);"},
                          {2, "u", "CREATE TABLE u (id int PRIMARY KEY);"}};
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{s, source}.run();
      REQUIRE(frozen);
      CHECK(lock_freed_after >= 0ms);
      CHECK(lock_freed_after < 3000ms);
      // When it "wakes", its session is gone; it reconnects and finishes.
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(log.count("reconnecting") >= 1);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
    }

    SUBCASE("a follower's wait never outlasts the idle bound its session carries") {
      TestDatabase db{"frozen_follower"};
      MemorySource source{{1, "slow", "SELECT pg_sleep(4); CREATE TABLE t (id int);"}};
      EventLog leader_log;
      std::thread leader{[&] {
        auto r =
            Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{frozen_settings(db.url(), leader_log, 2000ms),
                                                                            source}
                .run();
        CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
      }};
      const auto started = time_until(
          [&] {
            return db.scalar(
                       "SELECT count(*) FROM pg_stat_activity WHERE "
                       "query LIKE 'SELECT pg_sleep(4)%'") == "1";
          },
          20s);
      CHECK(started < 20s);
      EventLog log;
      // The try-lock armed this session with idle_session_timeout = 2 s; a
      // 3 s wait would have the server end it. The wait is capped instead.
      auto r = Migrator<TryLock, SlowPoll, Deadline<>, MemorySource>{frozen_settings(db.url(), log, 2000ms), source}.run();
      leader.join();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(r.value().role == Role::follower);
      CHECK(log.count("reconnecting") == 0);
      CHECK(log.count("waiting") >= 2);
    }

    SUBCASE("a rehearsal's transaction carries the leader's idle bound") {
      TestDatabase db{"frozen_rehearsal"};
      EventLog log;
      auto s = frozen_settings(db.url(), log, 1234ms);
      s.mode = BootMode::dry_run;
      s.rehearse = true;
      // The rehearsal takes the migrations' own locks (ACCESS EXCLUSIVE
      // here); a frozen client must not keep them.
      MemorySource source{{1, "t", "CREATE TABLE t (id int PRIMARY KEY);"},
                          {2, "bounded",
                           "DO $$ BEGIN IF "
                           "current_setting('idle_in_transaction_session_"
                           "timeout') <> '1234ms' THEN "
                           "RAISE EXCEPTION 'unbounded rehearsal: "
                           "idle_in_transaction_session_timeout = %', "
                           "current_setting('idle_in_transaction_session_"
                           "timeout'); END IF; END $$;"}};
      auto r = Migrator<TryLock, ExponentialBackoff, Deadline<>, MemorySource>{s, source}.run();
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      REQUIRE(r.value().plan.size() == 2);
      CHECK(r.value().plan[1].rehearsed);
      CHECK(db.scalar("SELECT to_regclass('public.t')").empty());
    }

    SUBCASE(
        "a replica frozen inside its registration loses the registry lock "
        "within the lease") {
      TestDatabase db{"frozen_enroll"};
      RegisteringReplica replica{db, "frozen-enroll", "3s"};
      const pid_t pid = replica.pid;
      auto holder = db.connect();
      replica.hold_ledger(db, holder);
      const std::string backend = replica.backend;
      ::kill(pid, SIGSTOP);
      REQUIRE(holder.execute("ROLLBACK"));

      // The registration is one round trip: once the ledger is free it
      // commits without the frozen client, and a contract can lock the
      // registry again. (When it took several, a client frozen between them
      // kept the registry locked until the server's idle bound ended the
      // session, after the lease.) The session may stay, idle while the
      // client sleeps, but in no transaction.
      const auto freed = time_until([&] { return !holds_registry_lock(db, backend); }, 10s);
      CHECK(freed < 6s);
      if (freed < 6s && backend_alive(db, backend)) {
        const std::string state = settled_state(db, backend);
        CHECK_MESSAGE(state.rfind("idle in transaction", 0) == std::string::npos,
                      "the frozen replica's session is left '" << state << "'");
      }
      auto contract = db.connect();
      CHECK(
          contract.execute("SET lock_timeout = 1000; BEGIN; LOCK TABLE "
                           "lockstep.replicas IN SHARE ROW EXCLUSIVE MODE; "
                           "COMMIT"));

      // Woken, it keeps its registration: it takes the registration's
      // answer (replica_reregistered), or, when its watchdog shuts the
      // socket first (the beat's bound passed while it slept), fails that
      // beat and renews at the next. Either way a beat stamps its row again.
      const std::string woke = db.scalar("SELECT clock_timestamp()");
      ::kill(pid, SIGCONT);
      const auto restamped = time_until(
          [&] {
            return db.scalar("SELECT count(*) FROM lockstep.replicas WHERE pid = " + std::to_string(pid) +
                             " AND last_seen > '" + woke + "'::timestamptz AND expires_at > clock_timestamp()") == "1";
          },
          15s);
      CHECK(restamped < 15s);
      CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE pid = " + std::to_string(pid)) == 1);
    }

    SUBCASE("a replica frozen as its registration fails (lock_timeout) leaves no transaction open") {
      // PostgreSQL takes back a SET LOCAL when the transaction aborts: an
      // idle bound armed that way is gone once an error (a DBA's
      // lock_timeout, a cancel) hits the registration, and a client frozen
      // then would keep its session "idle in transaction (aborted)" until
      // it woke. The registration is one round trip, so no transaction of
      // it is ever left open, failed or not.
      TestDatabase db{"frozen_enroll_error"};
      // A long lease: a beat may take 5.9 s, so the lock_timeout (3 s) and
      // not the beat's watchdog ends the wait, and ends it while frozen.
      RegisteringReplica replica{db, "frozen-enroll-error", "12s"};
      const pid_t pid = replica.pid;
      db.exec("ALTER DATABASE " + db.name() + " SET lock_timeout = '3s'");
      auto holder = db.connect();
      replica.hold_ledger(db, holder);
      const std::string backend = replica.backend;
      ::kill(pid, SIGSTOP);

      // The wait fails (55P03) while the client is frozen.
      const auto failed = time_until(
          [&] {
            return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + backend +
                             " AND wait_event_type = 'Lock'") == "0";
          },
          10s);
      CHECK(failed < 10s);
      CHECK_FALSE(holds_registry_lock(db, backend));
      const std::string state = settled_state(db, backend);
      CHECK_MESSAGE(state.rfind("idle in transaction", 0) == std::string::npos,
                    "the frozen replica's session is left '" << state << "'");
      REQUIRE(holder.execute("ROLLBACK"));

      // Woken, it registers again at a later beat.
      ::kill(pid, SIGCONT);
      CHECK(replica.herd.wait_for_output("\"event\":\"replica_reregistered\"", 15s) == 0);
      CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE pid = " + std::to_string(pid)) == 1);
    }
  }
}
