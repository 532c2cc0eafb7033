#include <doctest/doctest.h>

#include <set>

#include "args.hpp"
#include "exit_codes.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

TEST_SUITE("unit") {
  TEST_CASE("parse_duration") {
    CHECK(cli::parse_duration("300s") == 300s);
    CHECK(cli::parse_duration("300") == 300s);
    CHECK(cli::parse_duration("5m") == 5min);
    CHECK(cli::parse_duration("1500ms") == 1500ms);
    CHECK_FALSE(cli::parse_duration("0s"));
    CHECK_FALSE(cli::parse_duration("-5s"));
    CHECK_FALSE(cli::parse_duration("5 minutes"));
    CHECK_FALSE(cli::parse_duration(""));
  }

  TEST_CASE("parse_duration: large values saturate, never wrap around") {
    constexpr auto max = std::chrono::milliseconds::max();
    CHECK(cli::parse_duration("700h") == std::chrono::hours{700});
    CHECK(cli::parse_duration("3000000h") == std::chrono::hours{3000000});
    CHECK(cli::parse_duration("9223372036854775807ms") == max);
    CHECK(cli::parse_duration("9223372036854775807h") == max);  // hours to ms would overflow
    CHECK(cli::parse_duration("9223372036854775807s") == max);
    CHECK(cli::parse_duration("153722867280912931m") == max);
    CHECK(cli::parse_duration("99999999999999999999999") == max);  // more than an int64 holds
    CHECK_FALSE(cli::parse_duration("-99999999999999999999999s"));
    CHECK_FALSE(cli::parse_duration("99999999999999999999999 years"));
    auto a = cli::parse_args({"migrate", "--timeout", "9223372036854775807h"});
    CHECK(a.error.empty());
    CHECK(a.timeout == max);  // the settings check takes it as a century
    // A lease is sent to the server as a time: refused by name, before `replica` migrates.
    auto r = cli::parse_args({"replica", "--lease", "9223372036854775807h"});
    CHECK(r.error.find("--lease") != std::string::npos);
    CHECK(r.error.find("century") != std::string::npos);
    CHECK(cli::parse_args({"replica", "--heartbeat", "3000000h"}).error.find("--heartbeat") != std::string::npos);
    CHECK(cli::parse_args({"replica", "--heartbeat", "10s", "--lease", "30s"}).error.empty());
  }

  TEST_CASE("parse_args") {
    SUBCASE("migrate with every flag") {
      auto a = cli::parse_args({"migrate", "--dir", "db", "--url", "postgresql://x/y", "--expect", "42",
                                "--deploy-version", "v1.2.3", "--timeout", "90s", "--lock-name", "n", "--lock",
                                "blocking", "--host", "pod-1"});
      CHECK(a.error.empty());
      CHECK(a.command == "migrate");
      CHECK(a.dir == "db");
      CHECK(a.expect == 42);
      CHECK(a.timeout == 90s);
      CHECK(a.lock == "blocking");
      CHECK(a.host == "pod-1");
    }
    SUBCASE("wait policy") {
      CHECK(cli::parse_args({"migrate"}).wait == "notify");
      CHECK(cli::parse_args({"migrate", "--wait", "poll"}).wait == "poll");
      CHECK(cli::parse_args({"migrate", "--wait", "sleep"}).error.find("--wait") != std::string::npos);
    }
    SUBCASE("stall timeout") {
      CHECK(cli::parse_args({"migrate", "--stall-timeout", "4s"}).stall_timeout == 4s);
      CHECK_FALSE(cli::parse_args({"migrate"}).stall_timeout);
      CHECK(cli::parse_args({"migrate", "--stall-timeout", "0"}).error.find("--stall-timeout") != std::string::npos);
    }
    SUBCASE("finalize budget and background finalize") {
      CHECK(cli::parse_args({"migrate", "--finalize-budget", "2m"}).finalize_budget == 120s);
      CHECK(cli::parse_args({"migrate", "--finalize-budget", "0"}).finalize_budget == 0s);
      CHECK_FALSE(cli::parse_args({"migrate"}).finalize_budget);
      CHECK(cli::parse_args({"migrate", "--finalize-budget", "soon"}).error.find("--finalize-budget") != std::string::npos);
      auto f = cli::parse_args({"background", "finalize", "42"});
      CHECK(f.error.empty());
      CHECK(f.background_action == "finalize");
      CHECK(f.resolve_version == 42);
      CHECK(cli::parse_args({"background", "finalize"}).error.find("background finalize takes a background job's version") !=
            std::string::npos);
    }
    SUBCASE("on-failed-range") {
      CHECK(cli::parse_args({"background", "run"}).on_failed_range == "stop");
      CHECK(cli::parse_args({"background", "run", "--on-failed-range", "skip"}).on_failed_range == "skip");
      CHECK(cli::parse_args({"replica", "--background", "--on-failed-range", "stop"}).on_failed_range == "stop");
      CHECK(cli::parse_args({"background", "run", "--on-failed-range", "ignore"}).error.find("--on-failed-range") !=
            std::string::npos);
    }
    SUBCASE("mistakes are usage errors that say what is wrong") {
      CHECK(cli::parse_args({}).error == "missing command");
      CHECK(cli::parse_args({"migrat"}).error.find("unknown command") != std::string::npos);
      CHECK(cli::parse_args({"migrate", "--timeout", "0"}).error.find("--timeout") != std::string::npos);
      CHECK(cli::parse_args({"migrate", "--expect", "x"}).error.find("--expect") != std::string::npos);
      CHECK(cli::parse_args({"migrate", "--lock", "sometimes"}).error.find("--lock") != std::string::npos);
      CHECK(cli::parse_args({"migrate", "--dir"}).error.find("needs a value") != std::string::npos);
      CHECK(cli::parse_args({"migrate", "--frobnicate", "1"}).error.find("unknown option") != std::string::npos);
    }
  }

  TEST_CASE("exit_code") {
    std::set<int> seen{cli::exit_ok, cli::exit_usage};
    for (int e = 1; e <= static_cast<int>(errc::lock_lost); ++e) {
      CAPTURE(e);
      CHECK(seen.insert(cli::exit_code(static_cast<errc>(e))).second);  // distinct per class
    }
  }
}
