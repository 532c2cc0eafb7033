// `${NAME}` placeholders (sql/placeholders.hpp): what is replaced, what is
// not (dollar quoting, parameters, the escape), and what is refused.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>

#include "lockstep/sql/placeholders.hpp"

using namespace lockstep;

namespace {

sql::PlaceholderLookup lookup_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("placeholders: replaced, escaped, and dollar quoting left alone") {
    const auto lookup = lookup_of({{"schema", "app"}, {"role_pw", "s3cr3t-Pw"}, {"empty", ""}});
    auto r = sql::substitute_placeholders(
        "CREATE TABLE ${schema}.t (id int);\n"
        "ALTER ROLE x PASSWORD '${role_pw}';\n"
        "SELECT '$${schema}', $1, $tag$ ${schema} $tag$, '${empty}';\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        "SELECT $${\"a\": 1}$$::jsonb, $$$${schema}$$, 'cost: $5 {x}', '${' || 'x}';\n",
        lookup);
    REQUIRE(r);
    CHECK(r.value().sql ==
          "CREATE TABLE app.t (id int);\n"
          "ALTER ROLE x PASSWORD 's3cr3t-Pw';\n"
          "SELECT '${schema}', $1, $tag$ app $tag$, '';\n"
          "DO $$ BEGIN PERFORM 1; END $$;\n"
          "SELECT $${\"a\": 1}$$::jsonb, $$${schema}$$, 'cost: $5 {x}', '${' || 'x}';\n");
    // Every value used, for the redactor (an empty one redacts nothing).
    CHECK(r.value().values == std::vector<std::string>{"app", "s3cr3t-Pw", "app"});
  }

  TEST_CASE("placeholders: an unset name or a value with a line break is refused with its position, never its value") {
    const auto lookup = lookup_of({{"multi", "line one\nline two"}});
    auto unset = sql::substitute_placeholders("SELECT 1;\nSELECT '${missing}';\n", lookup);
    REQUIRE_FALSE(unset);
    CHECK(unset.error().code == errc::source_invalid);
    CHECK(unset.error().line == 2);
    CHECK(unset.error().column == 9);
    CHECK(unset.error().message.find("${missing} is not set") != std::string::npos);
    CHECK(unset.error().message.find("$${missing}") != std::string::npos);
    auto multi = sql::substitute_placeholders("SELECT '${multi}';", lookup);
    REQUIRE_FALSE(multi);
    CHECK(multi.error().message.find("line break") != std::string::npos);
    CHECK(multi.error().message.find("line one") == std::string::npos);
    // Not a name: text, as written.
    auto other = sql::substitute_placeholders("SELECT '${9lives}', '${ x }', '${';", lookup);
    REQUIRE(other);
    CHECK(other.value().sql == "SELECT '${9lives}', '${ x }', '${';");
  }
}
