// Structured events: one typed event per step (events/types.hpp), stable
// field names, no secrets. A sink receives a lockstep::Event and formats it;
// the default one writes it as a JSON line (events/json_sink.hpp). The list
// of events and fields: docs/events.md.
#pragma once

#include <cstdio>

#include "lockstep/events/event.hpp"
#include "lockstep/events/json_sink.hpp"

namespace lockstep {

// The library's default: JSON lines on stderr, so stdout stays the app's.
[[nodiscard]] inline EventSink stderr_sink() { return JsonSink{stderr}; }

[[nodiscard]] inline EventSink stdout_sink() { return JsonSink{stdout}; }

[[nodiscard]] inline EventSink null_sink() {
  return [](const Event&) {};
}

}  // namespace lockstep
