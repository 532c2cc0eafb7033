// NotifyBackoff against a real server: waiting replicas wake on the leader's
// NOTIFY instead of sleeping out their backoff, and never LISTEN through a
// transaction-pooling proxy.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "json.hpp"
#include "lockstep/detail/run/session_sql.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Events with the moment they were emitted.
class TimedLog {
 public:
  struct Entry {
    std::string name;
    Json json;
    Clock::time_point at;
  };
  [[nodiscard]] EventSink sink() {
    return [this](const Event& e) {
      std::lock_guard lk{mutex_};
      entries_.push_back({std::string{e.name}, parse_json(to_json(e)), Clock::now()});
    };
  }
  [[nodiscard]] std::vector<Entry> named(const std::string& name) const {
    std::lock_guard lk{mutex_};
    std::vector<Entry> out;
    for (const auto& e : entries_) {
      if (e.name == name) out.push_back(e);
    }
    return out;
  }
  [[nodiscard]] bool wait_for(const std::string& name, std::chrono::milliseconds limit) const {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (!named(name).empty()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

Settings notify_settings(const TestDatabase& db, TimedLog& log, const std::string& application_name = "lockstep") {
  Settings s;
  s.database_url = db.url();
  s.on_event = log.sink();
  s.application_name = application_name;
  return s;
}

// A seed whose first delays are all long: a follower that finishes early
// can only have been woken by a notification, not by a lucky timer.
std::uint64_t seed_with_long_delays(std::chrono::milliseconds cap, std::chrono::milliseconds at_least) {
  for (std::uint64_t seed = 1;; ++seed) {
    ExponentialBackoff b{cap, cap, seed};
    bool ok = true;
    for (unsigned i = 0; i < 6 && ok; ++i) ok = b.next_delay(i) >= at_least;
    if (ok) return seed;
  }
}

template <class Wait>
using WaitMem = Migrator<TryLock, Wait, Deadline<>, MemorySource>;

MemorySource slow_then_fast(const std::string& second_sql = "CREATE TABLE b (id int);") {
  return MemorySource{{1, "slow", "CREATE TABLE a (id int);\nSELECT pg_sleep(1.5);"}, {2, "b", second_sql}};
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("NotifyBackoff") {
    TestDatabase db{"notify"};
    const std::uint64_t seed = seed_with_long_delays(4s, 2s);

    SUBCASE("a waiting replica wakes on the leader's final commit, long before its timer") {
      TimedLog leader_log, follower_log;
      std::thread leader{[&] { REQUIRE(WaitMem<NotifyBackoff>{notify_settings(db, leader_log), slow_then_fast()}.run()); }};
      REQUIRE(leader_log.wait_for("migration_started", 10s));
      auto r = WaitMem<NotifyBackoff>{notify_settings(db, follower_log), slow_then_fast(), NotifyBackoff{4s, 4s, seed},
                                  Deadline<>{30s}}
                   .run();
      leader.join();
      REQUIRE(r);
      CHECK(r.value().role == Role::follower);
      const auto committed = leader_log.named("migration_applied").back().at;
      const auto ready = follower_log.named("ready").back().at;
      const auto waiting = follower_log.named("waiting");
      REQUIRE_FALSE(waiting.empty());
      CHECK(waiting.front().json["listening"].boolean());
      const auto& last = waiting.back();
      CHECK(last.json["next_delay_ms"].num() >= 2000);
      MESSAGE("woke " << ms_between(committed, ready) << " ms after the commit; its timer said "
                      << last.json["next_delay_ms"].num() << " ms");
      CHECK(ms_between(committed, ready) < 250);
      CHECK(ms_between(last.at, ready) < last.json["next_delay_ms"].num() - 500);
    }

    SUBCASE("the same replica with plain polling sleeps out its delay (the contrast)") {
      TimedLog leader_log, follower_log;
      std::thread leader{[&] { REQUIRE(WaitMem<NotifyBackoff>{notify_settings(db, leader_log), slow_then_fast()}.run()); }};
      REQUIRE(leader_log.wait_for("migration_started", 10s));
      auto r = WaitMem<ExponentialBackoff>{notify_settings(db, follower_log), slow_then_fast(),
                                       ExponentialBackoff{4s, 4s, seed}, Deadline<>{30s}}
                   .run();
      leader.join();
      REQUIRE(r);
      const auto waiting = follower_log.named("waiting");
      REQUIRE_FALSE(waiting.empty());
      CHECK_FALSE(waiting.front().json["listening"].boolean());
      const auto& last = waiting.back();
      CHECK(ms_between(last.at, follower_log.named("ready").back().at) >= last.json["next_delay_ms"].num() - 50);
    }

    SUBCASE("a failing leader's release wakes a replica, which takes over at once") {
      TimedLog leader_log, follower_log;
      // Fails only in the first leader's session.
      const auto source = slow_then_fast(
          "CREATE TABLE b (id int);\nSELECT 1 / (current_setting('application_name') <> 'doomed')::int;");
      std::thread leader{[&] { CHECK_FALSE(WaitMem<NotifyBackoff>{notify_settings(db, leader_log, "doomed"), source}.run()); }};
      REQUIRE(leader_log.wait_for("migration_started", 10s));
      // The failure depends on the session, not the file: let the replica
      // try again in the same deploy (by default it would not).
      auto follower = notify_settings(db, follower_log);
      follower.on_failure = FailurePolicy::retry;
      auto r = WaitMem<NotifyBackoff>{follower, source, NotifyBackoff{4s, 4s, seed}, Deadline<>{30s}}.run();
      leader.join();
      REQUIRE_MESSAGE(r, (r ? std::string{} : r.error().to_string()));
      CHECK(r.value().role == Role::leader);
      const auto released = leader_log.named("lock_released").back().at;
      const auto took = follower_log.named("lock_acquired").back().at;
      MESSAGE("took over " << ms_between(released, took) << " ms after the failed leader released the lock");
      CHECK(ms_between(released, took) < 250);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
    }
  }

  TEST_CASE("notify_channel and listen_sql" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"listen"};
    const std::int64_t key = lock_key("listen-test");
    CHECK(detail::notify_channel(key).size() == 2 + 9 + 16);
    CHECK(detail::notify_channel(key) != detail::notify_channel(key + 1));

    SUBCASE("a session of its own listens") {
      auto conn = db.connect();
      auto rows = conn.query(detail::listen_sql(key, conn.backend_pid()));
      REQUIRE(rows);
      CHECK(rows.value().at(0).at(0) == "t");
      auto channels = conn.query("SELECT count(*) FROM pg_listening_channels()");
      REQUIRE(channels);
      CHECK(channels.value().at(0).at(0) == "1");
    }
    SUBCASE("through a transaction-pooling proxy it does not") {
      const std::string bouncer = pgbouncer_url();
      REQUIRE_MESSAGE(!bouncer.empty(), "no PgBouncer: run through ctest (fixture servers)");
      auto pooled = Connection::open(url_for_database(bouncer, db.name()));
      REQUIRE(pooled);
      auto rows = pooled.value().query(detail::listen_sql(key, pooled.value().backend_pid()));
      REQUIRE(rows);
      CHECK(rows.value().at(0).at(0) == "f");
    }
  }
}
