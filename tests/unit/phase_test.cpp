// Expand/contract without a database: how the phase is read, what the gate
// waits for, what a plan may leave pending, and the compatibility floor.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "lockstep/detail/run/plan.hpp"
#include "lockstep/detail/run/contract.hpp"
#include "lockstep/detail/run/target.hpp"
#include "lockstep/lockstep.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

namespace {
Migration mig(std::int64_t v, bool contract = false) {
  Migration m{v, "m" + std::to_string(v), "", "db/" + std::to_string(v) + "_m.sql", "sum" + std::to_string(v)};
  m.contract = contract;
  return m;
}
AppliedMigration app(std::int64_t v, bool contract = false) {
  AppliedMigration a{v, "m" + std::to_string(v), "sum" + std::to_string(v), "2026-12-01T10:00:00Z", 0, "v3", "pod-a"};
  a.contract = contract;
  return a;
}
detail::Target target(std::vector<Migration> ms, std::int64_t bound) {
  detail::Target t;
  t.migrations = std::move(ms);
  t.bound = bound;
  t.expected = detail::expand_threshold(t.migrations, bound);
  return t;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("declares_contract") {
    SUBCASE("the phase comes from the leading comment lines") {
      CHECK(sql::declares_contract("-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN c;"));
      CHECK(sql::declares_contract("\n-- drop the old name\n--  LOCKSTEP: phase = contract \nDROP TABLE t;"));
      CHECK(sql::declares_contract("-- lockstep:no-transaction\n-- lockstep:phase=contract\nDROP INDEX CONCURRENTLY i;"));
    }
    SUBCASE("expand is the default, and a directive after the first statement is a plain comment") {
      CHECK_FALSE(sql::declares_contract("ALTER TABLE t ADD COLUMN c int;"));
      CHECK_FALSE(sql::declares_contract("-- lockstep:phase=expand\nALTER TABLE t ADD COLUMN c int;"));
      CHECK_FALSE(sql::declares_contract("SELECT 1;\n-- lockstep:phase=contract\n"));
      CHECK_FALSE(sql::declares_contract("-- phase=contract\nDROP TABLE t;"));
    }
  }

  TEST_CASE("Target") {
    // 1 expand, 2 expand, 3 contract, 4 expand, 5 contract
    const std::vector<Migration> ms{mig(1), mig(2), mig(3, true), mig(4), mig(5, true)};
    SUBCASE("the gate waits for expand migrations only") {
      auto t = target(ms, 5);
      CHECK(t.expected == 4);
      CHECK(t.newest_contract() == 5);
      CHECK(t.has_contracts());
      CHECK(target(ms, 3).expected == 2);
      CHECK(target(ms, 3).newest_contract() == 3);
      CHECK(target(ms, 2).newest_contract() == 0);
      CHECK_FALSE(target(ms, 2).has_contracts());
    }
    SUBCASE("an expected version beyond the source stays the threshold, so the gate names what is missing") {
      CHECK(target(ms, 9).expected == 9);
    }
    SUBCASE("the window: expand up to the gate, contract up to the bound") {
      auto t = target(ms, 4);
      CHECK(t.in_window(ms[3], 2));
      CHECK(t.in_window(ms[2], 2));
      CHECK_FALSE(t.in_window(ms[4], 2));  // 5 is past the bound
      CHECK_FALSE(t.in_window(ms[1], 2));  // applied
    }
  }

  TEST_CASE("plan: contract migrations") {
    const std::vector<Migration> ms{mig(1), mig(2), mig(3, true), mig(4)};
    SUBCASE("a contract left pending below the schema version stays pending") {
      auto p = detail::plan(ms, {app(1), app(2), app(4)}, 4);
      REQUIRE(p);
      REQUIRE(p.value().pending.size() == 1);
      CHECK(p.value().pending[0]->version == 3);
      CHECK(p.value().pending[0]->contract);
    }
    SUBCASE("an expand migration below the schema version is still refused") {
      const std::vector<Migration> late{mig(1), mig(2), mig(3), mig(4)};
      auto p = detail::plan(late, {app(1), app(2), app(4)}, 4);
      REQUIRE_FALSE(p);
      CHECK(p.error().code == errc::ledger_invalid);
      CHECK(p.error().version == 3);
    }
  }

  TEST_CASE("pending_contracts") {
    auto t = target({mig(1), mig(2), mig(3, true), mig(4), mig(5, true)}, 5);
    SUBCASE("from the applied list") {
      const std::vector<AppliedMigration> applied{app(1), app(2), app(4)};
      auto p = detail::pending_contracts(t, LedgerState{}, &applied);
      REQUIRE(p.size() == 2);
      CHECK(p[0]->version == 3);
      CHECK(p[1]->version == 5);
    }
    SUBCASE("on the fast path the digest proved everything up to the schema version applied") {
      LedgerState state;
      state.exists = true;
      state.version = 4;
      auto p = detail::pending_contracts(t, state, nullptr);
      REQUIRE(p.size() == 1);
      CHECK(p[0]->version == 5);
    }
  }

  TEST_CASE("refuse_contracted") {
    auto t = target({mig(1), mig(2)}, 2);
    SUBCASE("a schema ahead by expand migrations only is allowed") {
      CHECK(detail::refuse_contracted({app(1), app(2), app(3), app(4)}, t, "v1"));
    }
    SUBCASE("a contract this image lacks refuses it, naming the migration, the deploys and what to do") {
      auto r = detail::refuse_contracted({app(1), app(2), app(3), app(4, true)}, t, "v1");
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::schema_contracted);
      CHECK(r.error().version == 4);
      CHECK(r.error().migration_name == "m4");
      const auto& msg = r.error().message;
      CHECK(msg.find("contract migration 4 (m4)") != std::string::npos);
      CHECK(msg.find("deploy v3") != std::string::npos);
      CHECK(msg.find("this image (deploy v1)") != std::string::npos);
      CHECK(msg.find("Roll forward") != std::string::npos);
      CHECK(make_error_code(r.error()) == errc::schema_contracted);
    }
    SUBCASE("a contract this image has is not a refusal") {
      auto known = target({mig(1), mig(2, true)}, 2);
      CHECK(detail::refuse_contracted({app(1), app(2, true)}, known, "v2"));
    }
  }

  TEST_CASE("summarize") {
    std::vector<ReplicaRecord> rs(3);
    rs[0].deploy_version = "v1";
    rs[1].deploy_version = "v2";
    rs[2].deploy_version = "v1";
    CHECK(detail::summarize(rs) == "v1 x2, v2 x1");
    CHECK(detail::summarize({}).empty());
  }

  TEST_CASE("a Source of the user's own is held to SourcePolicy's promise") {
    struct RawSource {
      std::vector<Migration> ms;
      [[nodiscard]] result<std::vector<Migration>> load() const { return ms; }
    };
    Settings s;
    s.database_url = "host=127.0.0.1 port=1 user=x dbname=y connect_timeout=1";
    auto run = [&](std::vector<Migration> ms) {
      return Migrator<TryLock, NotifyBackoff, Deadline<>, RawSource>{s, RawSource{std::move(ms)}, Deadline<>{2s}}.run();
    };
    std::vector<Migration> ms{mig(1), mig(2), mig(7)};
    CHECK(detail::check_source(ms));
    CHECK(detail::check_source({}));
    std::int64_t culprit = 0;
    SUBCASE("out of order") {
      std::swap(ms[1], ms[2]);
      culprit = 2;
    }
    SUBCASE("a version twice") {
      ms[2].version = 2;
      culprit = 2;
    }
    SUBCASE("a version not positive") {
      ms[0].version = 0;
      culprit = 0;
    }
    SUBCASE("no checksum") {
      ms[2].checksum.clear();
      culprit = 7;
    }
    // Refused before the connection is used (port 1 would be retried until
    // the deadline, which is short so that a regression fails quickly).
    auto r = run(ms);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::source_invalid);
    CHECK(r.error().version == culprit);
    CHECK(r.error().message.find("sorted by version") != std::string::npos);
  }

  TEST_CASE("the beat schedule") {
    SUBCASE("a beat may take as long as the lease allows, at least an interval, at most 10 s") {
      CHECK(detail::beat_budget(HeartbeatOptions{1000ms, 5000ms}) == 2400ms);     // half of lease - margin
      CHECK(detail::beat_budget(HeartbeatOptions{10000ms, 30000ms}) == 10000ms);  // the cap (the defaults)
      CHECK(detail::beat_budget(HeartbeatOptions{1000ms, 2300ms}) == 1000ms);     // the shortest lease: an interval
    }
    SUBCASE("jitter stays in its range and spreads") {
      detail::Jitter j;
      std::set<std::int64_t> seen;
      for (int i = 0; i < 1000; ++i) {
        const auto d = j.between(900ms, 1100ms);
        REQUIRE(d >= 900ms);
        REQUIRE(d <= 1100ms);
        seen.insert(d.count());
      }
      CHECK(seen.size() > 100);  // 201 possible values: not one fixed phase
      CHECK(j.between(500ms, 500ms) == 500ms);
    }
  }
}
