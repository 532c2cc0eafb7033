// Heartbeat (heartbeat.hpp) through its public face, without a database:
// the options a start refuses before it connects, the state as JSON, and a
// heartbeat that never started. The schedule's arithmetic is
// heartbeat_schedule_test.cpp's; beats against a server are the integration
// suite's (contract_promises_test.cpp, ledger_creation_test.cpp).
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "lockstep/lockstep.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

TEST_SUITE("unit") {
  TEST_CASE("Migrator::heartbeat: options are checked before anything is sent") {
    Settings s;
    s.database_url = "host=127.0.0.1 port=1 user=x dbname=y password=never-printed";
    std::vector<std::string> events;
    s.on_event = [&](const Event& e) { events.push_back(to_json(e)); };
    Migrator<> m{s};
    Report report;
    for (const auto& [interval, lease] : {std::pair{0ms, 30000ms}, std::pair{10000ms, 10000ms},
                                          std::pair{10000ms, 5000ms}, std::pair{-5ms, 30000ms},
                                          std::pair{2000ms, 2100ms}, std::pair{10000ms, 22099ms}}) {
      CAPTURE(interval.count());
      CAPTURE(lease.count());
      auto hb = m.heartbeat(report, HeartbeatOptions{interval, lease});
      REQUIRE_FALSE(hb);
      CHECK(hb.error().code == errc::invalid_argument);
      CHECK(hb.error().message.find("HeartbeatOptions::") != std::string::npos);
    }
    CHECK(events.empty());  // no connection was tried
  }

  TEST_CASE("to_json(HeartbeatState)") {
    HeartbeatState st;
    st.replica_id = "pod-\"a\":7:1";
    st.registered = true;
    st.beats = 4;
    st.contracts_waiting = {20261201, 20261202};
    SUBCASE("a healthy beat") {
      CHECK(to_json(st) ==
            R"({"replica_id":"pod-\"a\":7:1","registered":true,"compatible":true,"beats":4,"failed_beats":0,)"
            R"("contracts_waiting":[20261201,20261202],"schema_changes":0})");
    }
    SUBCASE("a schema hook that threw says so until it returns normally") {
      st.schema_changes = 2;
      st.schema_hook_error = "on_schema_change threw for migration 7: boom";
      const auto j = to_json(st);
      CHECK(j.find(R"("schema_changes":2,"schema_hook_error":"on_schema_change threw for migration 7: boom")") !=
            std::string::npos);
    }
    SUBCASE("a failing beat names its error") {
      st.registered = false;
      st.compatible = false;
      st.failed_beats = 2;
      st.contracts_waiting.clear();
      st.last_error = "schema contracted past this image";
      const auto j = to_json(st);
      CHECK(j.find(R"("registered":false,"compatible":false,"beats":4,"failed_beats":2,"contracts_waiting":[])") !=
            std::string::npos);
      CHECK(j.find(R"("last_error":"schema contracted past this image")") != std::string::npos);
    }
  }

  TEST_CASE("a heartbeat that never started: stop is a no-op, its state empty, and a move keeps it so") {
    Heartbeat<Migrator<>> hb;
    hb.stop();
    hb.stop();
    CHECK(hb.state().replica_id.empty());
    CHECK_FALSE(hb.state().registered);
    CHECK(hb.state().beats == 0);
    Heartbeat<Migrator<>> moved{std::move(hb)};
    moved.stop();
    CHECK(moved.state().beats == 0);
    moved = Heartbeat<Migrator<>>{};
    CHECK_FALSE(moved.state().registered);
  }
}
