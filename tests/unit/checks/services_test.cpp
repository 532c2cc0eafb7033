// check_services (checks/services.hpp) and the requires= directive
// (sql/directives.hpp): what lint across services finds without a database.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "lockstep/checks/services.hpp"
#include "lockstep/sql/directives.hpp"

using namespace lockstep;

namespace {

Migration file(std::int64_t version, const std::string& service, const std::string& sql) {
  Migration m;
  m.version = version;
  m.name = "m" + std::to_string(version);
  m.origin = service + "/" + std::to_string(version) + ".sql";
  m.sql = sql;
  return m;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("requires=: one or several services, each with a version, read as the boot reads it") {
    const auto two = sql::declared_service_requirements("-- a comment\n-- lockstep:requires=billing@42, auth@7\nSELECT 1;");
    REQUIRE(two.size() == 2);
    CHECK(two[0] == sql::ServiceRequirement{"billing", 42, 2});
    CHECK(two[1] == sql::ServiceRequirement{"auth", 7, 2});
    CHECK(sql::declared_service_requirements("SELECT 1;\n-- lockstep:requires=billing@42\n").empty());  // not leading

    std::vector<sql::ServiceRequirement> out;
    CHECK(sql::detail::parse_service_requirements("billing", 1, out)->find("such as requires=billing@42") !=
          std::string::npos);
    CHECK(sql::detail::parse_service_requirements("billing@0", 1, out).has_value());
    CHECK(sql::detail::parse_service_requirements("billing@4x", 1, out).has_value());
    CHECK(sql::detail::parse_service_requirements("Billing@4", 1, out)->find("lower-case") != std::string::npos);
    CHECK(sql::detail::parse_service_requirements("services@4", 1, out)->find("ledger's own tables") !=
          std::string::npos);
    out.clear();
    CHECK(sql::detail::parse_service_requirements("a@1, a@2", 1, out)->find("twice") != std::string::npos);
  }

  TEST_CASE("check_services: a requirement that is met in order passes") {
    std::map<std::string, std::vector<Migration>> s;
    s["a"] = {file(1, "a", "SELECT 1;"), file(2, "a", "SELECT 2;")};
    s["b"] = {file(1, "b", "SELECT 1;"), file(2, "b", "-- lockstep:requires=a@2\nSELECT 2;")};
    CHECK(check_services(s));
    // A service not given is not checked.
    s["b"].push_back(file(3, "b", "-- lockstep:requires=elsewhere@9\nSELECT 3;"));
    CHECK(check_services(s));
  }

  TEST_CASE("check_services: a cycle across services is named step by step") {
    std::map<std::string, std::vector<Migration>> s;
    s["a"] = {file(1, "a", "SELECT 1;"), file(2, "a", "-- lockstep:requires=b@2\nSELECT 2;")};
    s["b"] = {file(1, "b", "SELECT 1;"), file(2, "b", "-- lockstep:requires=a@2\nSELECT 2;")};
    auto r = check_services(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::source_invalid);
    CHECK(r.error().message.find("form a cycle") != std::string::npos);
    CHECK(r.error().message.find("a 2 (a/2.sql:1) requires b@2") != std::string::npos);
    CHECK(r.error().message.find("b 2 (b/2.sql:1) requires a@2") != std::string::npos);

    // Through a service's own order: a@3 needs b@2, which needs a@2 (before a@3): fine.
    s["a"] = {file(1, "a", "SELECT 1;"), file(2, "a", "SELECT 2;"), file(3, "a", "-- lockstep:requires=b@2\nSELECT 3;")};
    CHECK(check_services(s));
    // ... but a@1 needing b@2 while b@2 needs a@2 (after a@1) loops.
    s["a"][0] = file(1, "a", "-- lockstep:requires=b@2\nSELECT 1;");
    auto loop = check_services(s);
    REQUIRE_FALSE(loop);
    CHECK(loop.error().message.find("form a cycle") != std::string::npos);
  }

  TEST_CASE("check_services: a version the other service never reaches, and a service requiring itself") {
    std::map<std::string, std::vector<Migration>> s;
    s["a"] = {file(1, "a", "SELECT 1;")};
    s["b"] = {file(5, "b", "-- lockstep:requires=a@3\nSELECT 1;")};
    auto r = check_services(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().file == "b/5.sql");
    CHECK(r.error().line == 1);
    CHECK(r.error().message.find("a's migrations end at 1") != std::string::npos);
    s["b"] = {file(5, "b", "-- lockstep:requires=b@3\nSELECT 1;")};
    auto self = check_services(s);
    REQUIRE_FALSE(self);
    CHECK(self.error().message.find("own service") != std::string::npos);
  }
}
