#include <doctest/doctest.h>

#include "lockstep/detail/run/plan.hpp"
#include "phase_migrations.hpp"

using namespace lockstep;

namespace {
Migration mig(std::int64_t v, std::string checksum) {
  return Migration{v, "m" + std::to_string(v), "", "dir/" + std::to_string(v) + "_m.sql", std::move(checksum)};
}
AppliedMigration app(std::int64_t v, std::string checksum) {
  return AppliedMigration{v, "m" + std::to_string(v), std::move(checksum), "", 0, "d", "h"};
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("plan") {
    const std::vector<Migration> source{mig(1, "a"), mig(2, "b"), mig(3, "c"), mig(4, "d")};
    SUBCASE("pending is everything above the applied max, up to the target") {
      auto p = detail::plan(source, {app(1, "a"), app(2, "b")}, 4);
      REQUIRE(p);
      REQUIRE(p.value().pending.size() == 2);
      CHECK(p.value().pending[0]->version == 3);
      CHECK(p.value().pending[1]->version == 4);
      auto capped = detail::plan(source, {app(1, "a")}, 3);
      REQUIRE(capped);
      CHECK(capped.value().pending.size() == 2);
    }
    SUBCASE("an edited applied migration is a checksum mismatch naming version and file") {
      auto p = detail::plan(source, {app(1, "a"), app(2, "EDITED")}, 4);
      REQUIRE_FALSE(p);
      CHECK(p.error().code == errc::checksum_mismatch);
      CHECK(p.error().version == 2);
      CHECK(p.error().file == "dir/2_m.sql");
      CHECK(p.error().message.find("new migration") != std::string::npos);
    }
    SUBCASE("applied versions newer than the source are reported, not errors (rollback)") {
      auto p = detail::plan(source, {app(1, "a"), app(2, "b"), app(3, "c"), app(4, "d"), app(7, "g")}, 4);
      REQUIRE(p);
      CHECK(p.value().pending.empty());
      CHECK(p.value().unknown_versions == std::vector<std::int64_t>{7});
    }
    SUBCASE("an applied version missing from the middle of the source is an error") {
      const std::vector<Migration> gap{mig(1, "a"), mig(3, "c")};
      auto p = detail::plan(gap, {app(1, "a"), app(2, "b")}, 3);
      REQUIRE_FALSE(p);
      CHECK(p.error().code == errc::ledger_invalid);
      CHECK(p.error().version == 2);
    }
    SUBCASE("a new migration numbered below the applied max is refused: forward only") {
      auto p = detail::plan(source, {app(1, "a"), app(3, "c")}, 4);
      REQUIRE_FALSE(p);
      CHECK(p.error().code == errc::ledger_invalid);
      CHECK(p.error().version == 2);
      CHECK(p.error().message.find("above 3") != std::string::npos);
    }
  }

  TEST_CASE("matches_prefix") {
    std::vector<Migration> source{mig(1, "a"), mig(2, "b"), mig(3, "c")};
    LedgerState s;
    SUBCASE("no ledger or an empty one matches") { CHECK(detail::matches_prefix(s, detail::DigestChain{source})); }
    SUBCASE("the digest of the applied prefix matches, an edit does not") {
      s.exists = true;
      s.count = 2;
      s.version = 2;
      s.digest = std::string{detail::DigestChain{source}.up_to(2)};
      CHECK(detail::matches_prefix(s, detail::DigestChain{source}));
      SUBCASE("an applied file edited") { source[1].checksum = "EDITED"; }
      SUBCASE("a migration missing below the version") { source.erase(source.begin()); }
      SUBCASE("the ledger a row short") { s.version = 3; }
      // A head edited by hand (issue #31): the version or the count claims
      // what the digest does not prove.
      SUBCASE("a version beyond the source") { s.version = 99; }
      SUBCASE("a count that is not the prefix's") { s.count = 3; }
      CHECK_FALSE(detail::matches_prefix(s, detail::DigestChain{source}));
    }
    SUBCASE("a version past the source whose digest covers it all") {
      s.exists = true;
      s.count = 3;
      s.version = 99;
      s.digest = std::string{detail::DigestChain{source}.up_to(3)};
      CHECK_FALSE(detail::matches_prefix(s, detail::DigestChain{source}));
    }
    SUBCASE("an empty state with a version") {
      s.exists = true;
      s.version = 99;
      CHECK_FALSE(detail::matches_prefix(s, detail::DigestChain{source}));
    }
  }

  TEST_CASE("gate") {
    SUBCASE("at or past the expected version passes") {
      CHECK(detail::gate(5, 5, 5));
      CHECK(detail::gate(9, 5, 5));
    }
    SUBCASE("behind fails with schema_behind") {
      auto g = detail::gate(4, 5, 5);
      REQUIRE_FALSE(g);
      CHECK(g.error().code == errc::schema_behind);
      CHECK(g.error().message.find("must not start") != std::string::npos);
    }
    SUBCASE("expecting more than the source holds says what is missing") {
      auto g = detail::gate(5, 8, 5);
      REQUIRE_FALSE(g);
      CHECK(g.error().message.find("newest migration is 5") != std::string::npos);
    }
  }
}

TEST_SUITE("unit") {
  TEST_CASE("failures that may pass on another try do not block the deploy") {
    for (const char* cause : {"lock_timeout", "deadline", "deadlock", "resources"}) {
      CAPTURE(cause);
      FailureRecord f;
      f.cause = cause;
      CHECK(f.retryable());
    }
    FailureRecord f;
    CHECK_FALSE(f.retryable());  // "error": the server rejected the file
  }

  TEST_CASE("the source's chain counts and finds versions") {
    std::vector<Migration> source{mig(1, "a"), mig(3, "b"), mig(7, "c")};
    const detail::DigestChain chain{source};
    CHECK(chain.count_up_to(0) == 0);
    CHECK(chain.count_up_to(3) == 2);
    CHECK(chain.count_up_to(6) == 2);
    CHECK(chain.count_up_to(99) == 3);
    CHECK(chain.has(3));
    CHECK_FALSE(chain.has(4));
    CHECK_FALSE(chain.has(99));
  }
}

// The plan of a window with contract migrations: the phases' migrations
// (phase_migrations.hpp) by their own names, in a namespace of their own.
namespace contract_plan {
using lockstep::test::phases::app;
using lockstep::test::phases::mig;

TEST_SUITE("unit") {
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
}
}  // namespace contract_plan
