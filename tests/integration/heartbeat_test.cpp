// Heartbeat (heartbeat.hpp, detail/run/registry.hpp) against a real server:
// what the beats and the withdrawal work with.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <chrono>
#include <optional>
#include <string>

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
