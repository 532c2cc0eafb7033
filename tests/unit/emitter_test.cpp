// The Emitter (detail/run/emitter.hpp) redacts every string value of an
// event, nested ones too, so each line stays valid JSON whatever the secret.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "json.hpp"
#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/run/emitter.hpp"
#include "lockstep/events.hpp"
#include "nasty_passwords.hpp"

using lockstep::detail::Redactor;
using lockstep::detail::secrets_in;
using lockstep::test::kNastyPasswords;
using lockstep::test::kShortPasswords;
using lockstep::test::percent_encode;

TEST_SUITE("unit") {
  TEST_CASE("events: secrets are redacted in values, so every line stays valid JSON") {
    std::vector<std::string> all = kShortPasswords;
    all.insert(all.end(), kNastyPasswords.begin(), kNastyPasswords.end());
    for (const auto& pw : all) {
      CAPTURE(pw);
      const std::string url = "postgresql://pwuser:" + percent_encode(pw) + "@db:5432/app";
      std::vector<std::string> got;
      lockstep::detail::Emitter emitter{[&](const lockstep::Event& e) { got.push_back(lockstep::to_json(e)); },
                                        "h\"o\\st", Redactor{secrets_in(url)}};
      emitter.emit(lockstep::events::Error{
                       .class_ = "connection_failed",
                       .message = "cannot connect to " + url + ": \"" + pw + "\" {\"x\": true} \\ 0 1 t",
                       .detail = pw},
                   1);
      // Nested values too: a rehearsed plan's arrays of objects and strings.
      lockstep::events::Plan plan{.name_ = pw, .transaction = true, .statements = 10};
      plan.rehearsal.emplace().rehearsal.push_back({.line = 1, .locks = {{pw, "ACCESS EXCLUSIVE", pw}}, .rewritten = {pw}});
      emitter.emit(std::move(plan), 2);
      REQUIRE(got.size() == 2);
      CAPTURE(got[0]);
      CAPTURE(got[1]);
      lockstep::test::Json j, p;
      REQUIRE_NOTHROW(j = lockstep::test::parse_json(got[0]));
      REQUIRE_NOTHROW(p = lockstep::test::parse_json(got[1]));
      CHECK(j["event"].str() == "error");
      CHECK(j["host"].str() == "h\"o\\st");
      CHECK(p["transaction"].boolean());
      CHECK(p["statements"].num() == 10);
      CHECK(j["detail"].str() == "***");
      CHECK(p["name"].str() == "***");
      const auto step = p["rehearsal"].array().at(0);
      CHECK(step["rewritten"].array().at(0).str() == "***");
      CHECK(step["locks"].array().at(0)["relation"].str() == "***");
      CHECK(step["locks"].array().at(0)["blocks"].str() == "***");
      CHECK(j["message"].str().find("pwuser:***@db") != std::string::npos);
      CHECK(j["message"].str().find("\"***\"") != std::string::npos);
      // The JSON literals stay (a password "true" is not the boolean true),
      // and no string value holds the secret.
      for (const auto* doc : {&j, &p}) {
        for (const auto& [key, v] : doc->object()) {
          CAPTURE(key);
          if (!v.is_string()) continue;
          CHECK(v.str() != pw);
          if (pw.size() >= lockstep::detail::kMinFreeTextSecret) CHECK(v.str().find(pw) == std::string::npos);
        }
      }
    }
  }
}
