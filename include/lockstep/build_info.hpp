// Which libpqxx, Boost and libpq this program was compiled (and runs) with,
// for `lockstep version` and for tests that must prove which dependencies
// they ran against, not just that they passed.
#pragma once

#include <string>

#include <boost/version.hpp>

#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/detail/base/pqxx_adapter.hpp"

namespace lockstep {

// "libpqxx 7.10.7, Boost 1.81.0, libpq 15.18"
[[nodiscard]] inline std::string built_with() {
  const int pq = detail::libpq_version();
  return std::string{"libpqxx "} + detail::pqxx_version() + ", Boost " + std::to_string(BOOST_VERSION / 100000) + "." +
         std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100) + ", libpq " +
         std::to_string(pq / 10000) + "." + std::to_string(pq % 10000);
}

}  // namespace lockstep
