// Heartbeat (heartbeat.hpp, detail/run/registry.hpp) against a real server:
// what the beats and the withdrawal work with.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// Sets an environment variable for a scope, and puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_{name} {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  void set(const std::string& value) { ::setenv(name_, value.c_str(), 1); }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("heartbeat: beats and the withdrawal keep the settings resolved when the run started") {
    // Settings resolved once (issue #32): the URL, the host and the deploy
    // version come from the environment here, and the environment changes
    // after the heartbeat started. Every beat still renews the row it
    // registered, on the database the run used, as the host it gated as;
    // stop() removes that row. (Re-resolving at each beat, the beats went to
    // the new URL and failed, under the new host name, and the row stayed.)
    TestDatabase db{"hbresolved"};
    ScopedEnv url{"DATABASE_URL_MIGRATION", db.url()};
    ScopedEnv host{"HOSTNAME", "resolved-host"};
    ScopedEnv deploy{"LOCKSTEP_DEPLOY_VERSION", "resolved-deploy"};
    EventLog log;
    Settings s;
    s.on_event = log.sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> m{s, MemorySource{{1, "t", "CREATE TABLE t (id int)"}},
                                                                 Deadline<>{30s}};
    auto report = m.run();
    REQUIRE(report);
    CHECK(report.value().resolved.host == "resolved-host");
    CHECK(report.value().resolved.deploy_version == "resolved-deploy");
    auto hb = m.heartbeat(report.value(), HeartbeatOptions{200ms, 2000ms});
    REQUIRE(hb);

    url.set("postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2");
    host.set("changed-host");
    deploy.set("changed-deploy");
    const auto beats_before = log.count("beat");
    CHECK(time_until([&] { return log.count("beat") >= beats_before + 3; }, 10s) < 10s);
    CHECK(log.count("beat_failed") == 0);
    CHECK(hb.value().state().failed_beats == 0);
    CHECK(db.scalar("SELECT host || ' ' || deploy_version FROM lockstep.replicas") ==
          "resolved-host resolved-deploy");
    for (const auto& e : log.all()) {
      if (e.name != "beat") continue;
      CAPTURE(e.json);
      CHECK(e.json.find("\"host\":\"resolved-host\"") != std::string::npos);
    }
    hb.value().stop();
    CHECK(log.count("replica_withdrawn") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas") == 0);
  }
}

// A heartbeat resolves its settings once, for hours of beats, but libpq reads
// PGPASSWORD at every connect: one set or rotated in-process after the start
// (a short-lived token) must be hidden in every beat's output too. The
// refusal quotes it, as secrets_test's failing_beat (T86) quotes the URL's
// password.
TEST_SUITE("integration") {
  TEST_CASE("heartbeat: a PGPASSWORD set after the start never shows in a beat's output") {
    TestDatabase db{"hbpgpassword"};
    ScopedEnv pw{"PGPASSWORD", ""};  // empty: none (env_or, environment_secrets)
    EventLog log;
    Settings s;
    s.database_url = db.url();
    s.on_event = log.sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> m{s, MemorySource{{1, "t", "CREATE TABLE t (id int)"}},
                                                                 Deadline<>{30s}};
    auto report = m.run();
    REQUIRE(report);
    auto hb = m.heartbeat(report.value(), HeartbeatOptions{200ms, 2000ms});
    REQUIRE(hb);
    const std::string secret = "Rotated-Secret-Token-9f8e7d";
    pw.set(secret);
    db.exec("CREATE FUNCTION public.refuse_beat() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
            "RAISE EXCEPTION 'registry refused " + secret + "'; END $f$; "
            "CREATE TRIGGER refuse_beat BEFORE INSERT OR UPDATE ON lockstep.replicas "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse_beat()");
    CHECK(time_until([&] { return log.count("beat_failed") >= 2; }, 10s) < 10s);
    const HeartbeatState state = hb.value().state();
    db.exec("DROP TRIGGER refuse_beat ON lockstep.replicas");
    hb.value().stop();
    CHECK(state.last_error.find("registry refused") != std::string::npos);
    CHECK(state.last_error.find(secret) == std::string::npos);
    CHECK(to_json(state).find(secret) == std::string::npos);
    for (const auto& e : log.all()) {
      CAPTURE(e.json);
      CHECK(e.json.find(secret) == std::string::npos);
    }
  }
}

// A no-transaction contract checks the registry once, before its first
// statement, and cannot hold the registry lock across its statements: an old
// image may register while it runs (docs/expand-contract.md). That replica
// must be refused at its next beat once the contract has committed, not
// renewed for as long as it beats (found by an edge soak round: two old
// replicas registered during a no-transaction contract's body and beat on
// for seconds after it committed).
TEST_SUITE("integration") {
  TEST_CASE("heartbeat: an old replica that registered while a no-transaction contract ran is refused at its next beat") {
    TestDatabase db{"hbnotxcontract"};
    const MigrationSpec create{1, "t", "CREATE TABLE t (id int, old int); CREATE INDEX t_old ON t (old);"};
    EventLog old_log, new_log;
    Settings old_settings;
    old_settings.database_url = db.url();
    old_settings.deploy_version = "v1";
    old_settings.on_event = old_log.sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> old_image{old_settings, MemorySource{{create}},
                                                                         Deadline<>{30s}};
    REQUIRE(old_image.run());
    // The new image's contract: the registry is empty when it checks, then
    // its first statement runs for 2 s before the index goes.
    Settings new_settings = old_settings;
    new_settings.deploy_version = "v2";
    new_settings.on_event = new_log.sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> new_image{
        new_settings,
        MemorySource{{create,
                      {2, "drop_old_index",
                       "-- lockstep:phase=contract\n-- lockstep:no-transaction\nSELECT pg_sleep(2);\n"
                       "DROP INDEX CONCURRENTLY IF EXISTS t_old;\n"}}},
        Deadline<>{30s}};
    std::optional<result<Report>> contracted;
    std::thread contract{[&] { contracted.emplace(new_image.run()); }};
    // An old replica boots while the contract's body runs: the ledger has no
    // contract yet, so its run and its registration succeed.
    REQUIRE(time_until([&] { return new_log.count("migration_started") >= 1; }, 10s) < 10s);
    std::this_thread::sleep_for(300ms);
    auto old_report = old_image.run();
    REQUIRE(old_report);
    auto hb = old_image.heartbeat(old_report.value(), HeartbeatOptions{200ms, 1000ms});
    REQUIRE(hb);
    CHECK(hb.value().state().registered);
    contract.join();
    REQUIRE(contracted);
    REQUIRE(contracted->has_value());
    REQUIRE(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 2 AND contract") == 1);
    // Its next beat learns of the contract: no longer compatible, no longer
    // renewed, so its lease runs out and no later contract waits for it.
    CHECK(time_until([&] { return !hb.value().state().compatible; }, 5s) < 5s);
    const HeartbeatState state = hb.value().state();
    CHECK_FALSE(state.registered);
    CHECK(state.last_error.find("contract migration 2") != std::string::npos);
    CHECK(old_log.count("beat_failed") >= 1);
    std::this_thread::sleep_for(1200ms);
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE deploy_version = 'v1' AND "
                    "expires_at > clock_timestamp()") == 0);
    hb.value().stop();
  }
}
