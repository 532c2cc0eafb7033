// The noexcept edge of run(), status() and resolve(): an exception from a
// policy or the standard library (no memory, no thread) becomes
// internal_error, every returned error is scrubbed of the URL's secrets, and
// every error is also emitted as an event.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "lockstep/detail/run/context.hpp"
#include "lockstep/error.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

// `report` emits the scrubbed error: an `error` event for a run; the
// heartbeat's registry sessions report theirs as `beat_failed` (a beat is
// not a run, and must not count as a failed one). `resolved`: the settings
// as the heartbeat resolved them when it started (null: resolve them now).
template <class T, class Timeout, class Body, class Report>
[[nodiscard]] result<T> boundary(Timeout& timeout, const Settings& settings, const Resolved* resolved, Body&& body,
                                 Report&& report) noexcept {
  try {
    Context<Timeout> ctx = resolved != nullptr ? Context<Timeout>{timeout, settings, *resolved}
                                               : Context<Timeout>{timeout, settings};
    auto out = [&]() -> result<T> {
      try {
        return body(ctx);
      } catch (const std::exception& ex) {
        return make_error(errc::internal_error, std::string{"unexpected exception while "} + ctx.phase + ": " +
                                                    ex.what() + "; nothing more was run (report this)");
      } catch (...) {
        return make_error(errc::internal_error,
                          "unexpected exception while " + ctx.phase + "; nothing more was run (report this)");
      }
    }();
    if (out) return out;
    Error e = std::move(out).error();
    ctx.redact().scrub(e);
    try {
      report(ctx, e);
    } catch (...) {
      // The sink threw: the error is still returned.
    }
    return e;
  } catch (...) {
    try {
      return make_error(errc::internal_error, "out of memory before the run started");
    } catch (...) {
      std::terminate();  // not even an error can be built
    }
  }
}

template <class T, class Timeout, class Body>
[[nodiscard]] result<T> boundary(Timeout& timeout, const Settings& settings, Body&& body) noexcept {
  return boundary<T>(timeout, settings, nullptr, std::forward<Body>(body),
                     [](const Context<Timeout>& ctx, const Error& e) { ctx.emit_error(e); });
}

}  // namespace lockstep::detail
