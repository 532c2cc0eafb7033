// How much a finding matters: an error stops the deploy at pre-flight (and
// `lockstep lint` exits non-zero) unless a `-- lockstep:allow=<rule>` in the
// migration accepts it; a warning is reported; off is not reported at all.
// One scale for every rule (checks/rules.hpp).
#pragma once

#include <string_view>

namespace lockstep::checks {

enum class Level { off, info, warning, error };

[[nodiscard]] constexpr std::string_view to_string(Level l) noexcept {
  switch (l) {
    case Level::off: return "off";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "unknown";
}

}  // namespace lockstep::checks
