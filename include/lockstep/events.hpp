// Structured events: one JSON object per step, stable field names, no secrets.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace lockstep {

struct Event {
  std::string name;  // "boot", "lock_acquired", "migration_applied", ... (docs/events.md)
  std::string json;  // the whole event as one JSON object, no trailing newline
};

using EventSink = std::function<void(const Event&)>;

// The library's default: JSON lines on stderr, so stdout stays the app's.
[[nodiscard]] inline EventSink stderr_sink() {
  return [](const Event& e) {
    std::string line = e.json + '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  };
}

[[nodiscard]] inline EventSink stdout_sink() {
  return [](const Event& e) {
    std::string line = e.json + '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  };
}

[[nodiscard]] inline EventSink null_sink() {
  return [](const Event&) {};
}

}  // namespace lockstep
