// Contract migrations without a database (detail/run/contract.hpp): which
// are pending, who they wait for, and the compatibility floor an older image
// is refused at.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/detail/run/contract.hpp"
#include "lockstep/lockstep.hpp"
#include "phase_migrations.hpp"

using namespace lockstep;
using namespace lockstep::test::phases;

TEST_SUITE("unit") {
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
}
