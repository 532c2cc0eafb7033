// Redaction (detail/base/redact.hpp, redact.hpp): a password hidden in
// every form it reaches lockstep, as written and as libpq reads it, and
// ordinary text left readable.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/detail/base/conninfo.hpp"
#include "nasty_passwords.hpp"

using lockstep::errc;
using lockstep::detail::Conninfo;
using lockstep::detail::redact;
using lockstep::detail::Redactor;
using lockstep::detail::secrets_in;
using lockstep::test::kNastyPasswords;
using lockstep::test::kShortPasswords;
using lockstep::test::kv_quote;
using lockstep::test::percent_encode;

namespace {
std::string redacted(const std::string& url, const std::string& text) { return Redactor{secrets_in(url)}(text); }

// Each way a password reaches lockstep, and that string fully redacted.
struct Form {
  std::string conninfo;
  std::string expected;
};

std::vector<Form> forms_of(const std::string& pw) {
  const std::string enc = percent_encode(pw);
  std::vector<Form> out = {
      {"postgresql://pwuser:" + enc + "@db:5432/app", "postgresql://pwuser:***@db:5432/app"},
      {"postgres://pwuser:" + enc + "@h1:5432,h2:5433,[2001:db8::7]:5434/app?sslmode=prefer",
       "postgres://pwuser:***@h1:5432,h2:5433,[2001:db8::7]:5434/app?sslmode=prefer"},
      {"postgresql://db/app?user=pwuser&password=" + enc + "&sslmode=prefer",
       "postgresql://db/app?user=pwuser&password=***&sslmode=prefer"},
      {"postgresql://db/app?pass%77ord=" + enc, "postgresql://db/app?pass%77ord=***"},
      {"host=db user=pwuser password=" + kv_quote(pw) + " dbname=app", "host=db user=pwuser password=*** dbname=app"},
      {"host=db password = " + kv_quote(pw) + "\tsslpassword=" + kv_quote(pw),
       "host=db password = ***\tsslpassword=***"},
  };
  // Written raw, as people do: no whitespace can be (the URL would end there).
  if (pw.find(' ') == std::string::npos) {
    out.push_back({"postgresql://pwuser:" + pw + "@db:5432/app", "postgresql://pwuser:***@db:5432/app"});
  }
  return out;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("redact") {
    SUBCASE("URI user:password") {
      CHECK(redact("postgresql://app:s3cr3t@db:5432/app") == "postgresql://app:***@db:5432/app");
      CHECK(redact("postgres://app:p%40ss@db/app?sslmode=require") == "postgres://app:***@db/app?sslmode=require");
    }
    SUBCASE("a URI inside other text, malformed or quoted") {
      CHECK(redact("invalid IPv6 host address in URI: \"postgresql://app:s3cret@[2001:db8::1/app\"") ==
            "invalid IPv6 host address in URI: \"postgresql://app:***@[2001:db8::1/app\"");
    }
    SUBCASE("password and sslpassword in a query string or key=value, after any separator") {
      CHECK(redact("postgresql://db/app?user=a&password=hunter2&sslmode=x") ==
            "postgresql://db/app?user=a&password=***&sslmode=x");
      CHECK(redact("host=db password=hunter2 dbname=app") == "host=db password=*** dbname=app");
      CHECK(redact("host=db password = 'hun ter2' dbname=app") == "host=db password = *** dbname=app");
      CHECK(redact("host=db\tpassword=hunter2") == "host=db\tpassword=***");
      CHECK(redact("host=db sslpassword=keypass") == "host=db sslpassword=***");
      CHECK(redact("postgresql://db/app?sslpassword=keypass") == "postgresql://db/app?sslpassword=***");
    }
    SUBCASE("nothing to hide stays as it is") {
      CHECK(redact("postgresql://app@db/app") == "postgresql://app@db/app");
      CHECK(redact("host=db user=passwordless") == "host=db user=passwordless");
    }
  }

  TEST_CASE("Redactor") {
    SUBCASE("a known secret is replaced wherever it appears, in any spelling") {
      const std::string url = "postgresql://app:s3cret@[2001:db8::1/app";
      CHECK(redacted(url, "libpq says s3cret was wrong") == "libpq says *** was wrong");
      CHECK(redacted("postgresql://app:p%40ss@db/app", "got p@ss and p%40ss") == "got *** and ***");
      CHECK(redacted("host=db password='se cret'", "the value se cret") == "the value ***");
      CHECK(redacted("host=db sslpassword=k3yz", "sslkey passphrase k3yz rejected") == "sslkey passphrase *** rejected");
    }
    SUBCASE("scrub covers every text field of an error") {
      lockstep::Error e;
      e.message = "m s3cret";
      e.server_message = "s s3cret";
      e.detail = "d s3cret";
      e.hint = "h s3cret";
      Redactor{secrets_in("postgresql://u:s3cret@h/d")}.scrub(e);
      CHECK(e.to_string().find("s3cret") == std::string::npos);
    }
  }

  TEST_CASE("redaction of nasty passwords: every form, as written and as libpq reads it") {
    std::vector<std::string> all = kNastyPasswords;
    all.insert(all.end(), kShortPasswords.begin(), kShortPasswords.end());
    for (const auto& pw : all) {
      for (const auto& f : forms_of(pw)) {
        CAPTURE(pw);
        CAPTURE(f.conninfo);
        const Redactor r{secrets_in(f.conninfo)};
        // The string itself, structurally (short secrets included).
        CHECK(redact(f.conninfo) == f.expected);
        CHECK(r(f.conninfo) == f.expected);
        // As libpq and lockstep quote a value they print.
        CHECK(r("invalid percent-encoded token: \"" + pw + "\"") == "invalid percent-encoded token: \"***\"");
        CHECK(r("sets port='" + pw + "', which") == "sets port='***', which");
        if (pw.size() >= lockstep::detail::kMinFreeTextSecret) {
          CHECK(r("got " + pw + " back") == "got *** back");
          CHECK(r("got " + percent_encode(pw) + " back").find(pw) == std::string::npos);
        }
      }
    }
  }

  TEST_CASE("an unencoded password: every fragment libpq may print as a host, port or database is hidden") {
    // libpq ends the user info at the first '@' (or a '/' before it), so
    // the rest of the password becomes a host, a port or a database name.
    const std::string a = "postgresql://pwuser:S3cretPart@HiddenTail@127.0.0.1/t1";
    CHECK(redacted(a, "could not translate host name \"HiddenTail@127.0.0.1\" to address") ==
          "could not translate host name \"***@127.0.0.1\" to address");
    CHECK(redacted(a, "connecting to " + a) == "connecting to postgresql://pwuser:***@127.0.0.1/t1");
    const std::string b = "postgresql://pwuser:Abc/Def+Ghi@127.0.0.1:1/t1";
    CHECK(redacted(b, "sets port='Abc', database \"Def+Ghi@127.0.0.1:1/t1\"") ==
          "sets port='***', database \"***@127.0.0.1:1/t1\"");
    for (const auto& url : {a, b}) {
      auto c = Conninfo::parse(url);
      REQUIRE_FALSE(c);
      CAPTURE(c.error().message);
      CHECK(c.error().code == errc::invalid_argument);
      CHECK(c.error().message.find("percent-encode") != std::string::npos);
      for (const char* piece : {"S3cret", "HiddenTail", "Abc", "Def", "Ghi"}) {
        CHECK(c.error().message.find(piece) == std::string::npos);
      }
    }
  }

  TEST_CASE("a short secret: hidden where it is a value, ordinary text left readable") {
    const Redactor t{std::vector<std::string>{"t"}};
    CHECK(t("the migration cannot start: it's late") == "the migration cannot start: it's late");
    CHECK(t("password=t host=db") == "password=*** host=db");
    CHECK(t("postgresql://u:t@db/app") == "postgresql://u:***@db/app");
    CHECK(t("token \"t\" rejected") == "token \"***\" rejected");
    const Redactor quote{std::vector<std::string>{"\""}};
    CHECK(quote("relation \"x\" does not exist") == "relation \"x\" does not exist");
    CHECK(quote("host=db password='\"'") == "host=db password=***");
    const Redactor one{std::vector<std::string>{"1"}};
    CHECK(one("migration 1 failed at line 12") == "migration 1 failed at line 12");
    CHECK(one("postgresql://u:1@db:5432/app1") == "postgresql://u:***@db:5432/app1");
    const Redactor longer{std::vector<std::string>{"true"}};
    CHECK(longer("it is true") == "it is ***");  // 4 characters and more: anywhere
  }

  TEST_CASE("PGPASSWORD and other keys ending in password are secrets too") {
    CHECK(redact("PGPASSWORD=hunter2 lockstep migrate") == "PGPASSWORD=*** lockstep migrate");
    CHECK(redact("host=db Password=x") == "host=db Password=***");
    CHECK(redact("db_password = 'a b' next") == "db_password = *** next");
    CHECK(redact("host=db password=ab\\ cd next") == "host=db password=*** next");
    CHECK(redact("the password authentication failed for user \"pwuser\"") ==
          "the password authentication failed for user \"pwuser\"");
  }
}
