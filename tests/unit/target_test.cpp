// Target (detail/run/target.hpp), the load phase's output: the gate's
// threshold and the window of expand and contract migrations, and the
// source checked against SourcePolicy's promise before anything connects.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/detail/run/target.hpp"
#include "lockstep/lockstep.hpp"
#include "phase_migrations.hpp"

using namespace lockstep;
using namespace std::chrono_literals;
using namespace lockstep::test::phases;

TEST_SUITE("unit") {
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
}
