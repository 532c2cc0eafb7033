// Builds event lines with the fields every event shares.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "lockstep/detail/conninfo.hpp"
#include "lockstep/detail/json.hpp"
#include "lockstep/events.hpp"

namespace lockstep::detail {

[[nodiscard]] inline std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

class Emitter {
 public:
  Emitter() = default;
  Emitter(EventSink sink, std::string host, const Redactor& redact = {})
      : sink_{std::move(sink)}, host_{std::move(host)}, redact_{json_forms(redact)} {}

  // `fields` is filled by the caller; common fields go first so lines read alike.
  template <class Fill>
  void emit(std::string_view name, std::int64_t elapsed_ms, Fill&& fill) const {
    if (!sink_) return;
    JsonObject o;
    o.add("event", name).add("ts", utc_timestamp()).add("elapsed_ms", elapsed_ms);
    o.add("pid", static_cast<std::int64_t>(::getpid())).add("host", host_);
    fill(o);
    // Redacted as a whole line: whatever a field holds (libpq's or the
    // server's text included), no secret reaches the sink.
    sink_(Event{std::string{name}, redact_(o.str())});
  }

 private:
  // Secrets as they appear inside a JSON string, besides as they are.
  [[nodiscard]] static Redactor json_forms(const Redactor& r) {
    std::vector<std::string> all = r.secrets();
    for (const auto& s : r.secrets()) {
      std::string quoted;
      append_json_string(quoted, s);
      all.push_back(quoted.substr(1, quoted.size() - 2));
    }
    return Redactor{std::move(all)};
  }

  EventSink sink_;
  std::string host_;
  Redactor redact_;
};

}  // namespace lockstep::detail
