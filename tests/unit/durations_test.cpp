// Durations (detail/base/durations.hpp): saturated instead of overflowing,
// and held to what PostgreSQL takes in the SQL a session is sent.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "lockstep/detail/base/durations.hpp"
#include "lockstep/detail/run/session_sql.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

TEST_SUITE("unit") {
  TEST_CASE("durations saturate instead of overflowing") {
    CHECK(detail::saturating_ms(std::chrono::milliseconds::max()) == detail::longest_duration);
    CHECK(detail::saturating_ms(std::chrono::hours::max()) == detail::longest_duration);
    CHECK(detail::saturating_ms(std::chrono::hours{3000000}) == detail::longest_duration);
    CHECK(detail::saturating_ms(std::chrono::seconds::min()) == -detail::longest_duration);
    CHECK(detail::saturating_ms(std::chrono::hours{700}) == std::chrono::hours{700});
    CHECK(detail::saturating_ms(1500us) == 1ms);
    CHECK(detail::pg_ms(std::chrono::hours{700}) == "2147483647");
    CHECK(detail::pg_ms(std::chrono::milliseconds::max()) == "2147483647");
    CHECK(detail::pg_ms(0ms) == "0");
    CHECK(detail::pg_ms(-5ms) == "0");
    CHECK(detail::pg_ms(2s) == "2000");
    // What the Migrator sends when statement_timeout defaults to the rest of a 700 h deadline.
    const auto sql = detail::timeout_sql(2s, std::chrono::hours{700}, true);
    CHECK(sql.find("2147483647") != std::string::npos);
    CHECK(sql.find("2520000000") == std::string::npos);
    CHECK(detail::leader_session_sql(150000, std::chrono::hours{700}).find("2520000000") == std::string::npos);
  }
}
