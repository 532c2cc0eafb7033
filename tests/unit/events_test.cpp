// Typed events and the JSON sink: what a sink receives and the line the JSON
// sink writes from it (the same bytes the library wrote before events were
// typed: header first, fields in order, unset ones left out).
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "lockstep/detail/run/emitter.hpp"
#include "lockstep/events.hpp"
#include "lockstep/events/catalog.hpp"

using namespace lockstep;

namespace {

template <class Body>
Event typed_event(Body body) {
  return {Body::name, {std::string{Body::name}, "2026-12-07T00:00:00.000Z", 12, 42, "h"}, std::move(body)};
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("events: the JSON sink writes the header, then the fields in order, unset ones left out") {
    CHECK(to_json(typed_event(events::ConnectRetry{.attempt = 2, .message = "refused", .next_delay_ms = 100})) ==
          R"({"event":"connect_retry","ts":"2026-12-07T00:00:00.000Z","elapsed_ms":12,"pid":42,"host":"h",)"
          R"("attempt":2,"message":"refused","next_delay_ms":100})");
    CHECK(to_json(typed_event(events::Ready{.role = "leader", .schema_version = 3, .expected_version = 3,
                                      .schema_ahead = false, .applied = 1, .wait_attempts = 0,
                                      .contracts_waiting = 0, .duration_ms = 9, .background = true})) ==
          R"({"event":"ready","ts":"2026-12-07T00:00:00.000Z","elapsed_ms":12,"pid":42,"host":"h","role":"leader",)"
          R"("schema_version":3,"expected_version":3,"schema_ahead":false,"applied":1,"wait_attempts":0,)"
          R"("contracts_waiting":0,"duration_ms":9,"background":true})");
    events::Plan plan{.version = 1, .name_ = "a", .file = "1_a.sql", .statements = 1, .rehearsed = true};
    plan.rehearsal.emplace(events::Rehearsal{
        .duration_ms = 5,
        .locks = {{"t", "AccessExclusiveLock", "reads and writes"}},
        .rehearsal = {{.line = 1, .duration_ms = 5, .locks = {}, .rewritten = {"t"}}},
        .left_invalid = {}});
    CHECK(to_json(typed_event(std::move(plan))) ==
          R"({"event":"plan","ts":"2026-12-07T00:00:00.000Z","elapsed_ms":12,"pid":42,"host":"h","version":1,)"
          R"("name":"a","file":"1_a.sql","transaction":true,"statements":1,"warnings":0,"rehearsed":true,)"
          R"("blocked":false,"duration_ms":5,"locks":[{"relation":"t","mode":"AccessExclusiveLock",)"
          R"("blocks":"reads and writes"}],"rehearsal":[{"line":1,"duration_ms":5,"locks":[],"rewritten":["t"]}],)"
          R"("left_invalid":[],"row_types_changed":[]})");
    SUBCASE("a sink that wants text gets the same line") {
      std::string got;
      json_lines([&](std::string_view line) { got = line; })(typed_event(events::Warning{.message = "m"}));
      CHECK(got == to_json(typed_event(events::Warning{.message = "m"})));
    }
  }

  TEST_CASE("events: a sink receives the typed event, its strings redacted, its name as the type's") {
    std::vector<Event> got;
    detail::Emitter emitter{[&](const Event& e) { got.push_back(e); }, "host",
                            detail::Redactor{{"lock_acquired"}}};
    emitter.emit(events::LockAcquired{.lock = "lock_acquired", .key = 7}, 3);
    REQUIRE(got.size() == 1);
    CHECK(got[0].name == "lock_acquired");     // to dispatch on: the type's
    CHECK(got[0].header.event == "***");       // as written: a secret like any value
    CHECK(got[0].header.elapsed_ms == 3);
    const auto* body = std::get_if<events::LockAcquired>(&got[0].body);
    REQUIRE(body != nullptr);
    CHECK(body->lock == "***");
    CHECK(body->key == 7);
  }

  TEST_CASE("events: the catalog lists every event once, header fields first") {
    const auto all = events::catalog();
    CHECK(all.size() == std::variant_size_v<EventBody>);
    std::set<std::string_view> names;
    for (const auto& e : all) {
      CAPTURE(e.name);
      CHECK(names.insert(e.name).second);
      REQUIRE(e.fields.size() > 5);
      CHECK(e.fields[0].name == "event");
      CHECK(e.fields[4].name == "host");
    }
    CHECK(names.count("lock_busy") == 1);
    CHECK(names.count("replica_reregistered") == 1);
  }
}
