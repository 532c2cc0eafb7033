// Keeps every event line a test sees, so that tests/support/validate_events.py
// can check them all against docs/schema/ once the integration suite is done
// (ctest sets LOCKSTEP_EVENTS_DUMP; a test run by hand keeps nothing).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

namespace lockstep::test {

// Appends the whole lines of `text` that are events or `status --json`
// documents to $LOCKSTEP_EVENTS_DUMP/<pid>.jsonl. A last line without its
// newline (a process killed mid-write) is left out.
inline void dump_json_lines(std::string_view text) {
  static const char* const dir = std::getenv("LOCKSTEP_EVENTS_DUMP");
  if (dir == nullptr || *dir == '\0') return;
  std::string keep;
  for (std::size_t start = 0, nl; (nl = text.find('\n', start)) != std::string_view::npos; start = nl + 1) {
    const auto line = text.substr(start, nl - start);
    if (line.starts_with("{\"event\":") || line.starts_with("{\"ledger_exists\":")) {
      keep += line;
      keep += '\n';
    }
  }
  if (keep.empty()) return;
  static std::mutex mutex;
  std::lock_guard lk{mutex};
  std::ofstream{std::string{dir} + "/" + std::to_string(::getpid()) + ".jsonl", std::ios::app} << keep;
}

}  // namespace lockstep::test
