// An exception as an Error: what a noexcept entry point of the library
// returns instead of letting one escape ("no exception" in docs/promises.md).
// The checks' entry points (checks/check.hpp) use it directly; the Migrator's
// run(), status() and resolve() go through detail/run/boundary.hpp, which
// also scrubs and reports the error.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "lockstep/error.hpp"

namespace lockstep::detail {

// body() -> result<T>; `doing` says what was under way, for the message.
template <class T, class Body>
[[nodiscard]] result<T> catch_all(std::string_view doing, Body&& body) noexcept {
  try {
    try {
      return body();
    } catch (const std::exception& ex) {
      return make_error(errc::internal_error, "unexpected exception while " + std::string{doing} + ": " + ex.what() +
                                                  "; nothing more was run (report this)");
    } catch (...) {
      return make_error(errc::internal_error,
                        "unexpected exception while " + std::string{doing} + "; nothing more was run (report this)");
    }
  } catch (...) {
    // Not even the message could be built (out of memory): the code alone,
    // and a message short enough not to need the heap where it can.
    Error e;
    e.code = errc::internal_error;
    try {
      e.message = "out of memory";
    } catch (...) {
    }
    return e;
  }
}

}  // namespace lockstep::detail
