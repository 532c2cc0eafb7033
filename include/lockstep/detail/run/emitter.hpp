// Makes events: the fields every event shares, and redaction of every
// string value, before the sink (events.hpp) formats them.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>
#include <string_view>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/utf8.hpp"
#include "lockstep/events/event.hpp"
#include "lockstep/events/fields.hpp"

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

// `text` with each byte that starts no UTF-8 sequence replaced by U+FFFD,
// as the JSON writer would write it: the redactor sees the text a sink sees.
inline void replace_bad_utf8(std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
  if (i == text.size()) return;  // ASCII: the common case, no copy
  std::string out{text, 0, i};
  while (i < text.size()) {
    const std::size_t len = utf8_sequence_at(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  text = std::move(out);
}

class Emitter {
 public:
  Emitter() = default;
  Emitter(EventSink sink, std::string host, const Redactor& redact = {})
      : sink_{std::move(sink)}, host_{std::move(host)}, redact_{redact} {}

  // The shared fields are the Emitter's; the caller gives the event's own.
  template <class Body>
  void emit(Body body, std::int64_t elapsed_ms) const {
    if (!sink_) return;
    Event e{Body::name, EventHeader{std::string{Body::name}, utc_timestamp(), elapsed_ms, ::getpid(), host_}, {}};
    // Every string value redacted before any sink sees it: whatever a field
    // holds (libpq's or the server's text included), no secret reaches a
    // sink, whichever way it formats the event.
    const auto clean = [&](std::string& s) {
      replace_bad_utf8(s);
      s = redact_(s);
    };
    clean(e.header.event), clean(e.header.ts), clean(e.header.host);
    events::for_each_string(body, clean);
    e.body.template emplace<Body>(std::move(body));
    sink_(e);
  }

  // Secrets learnt after the Emitter was made (Context::add_secrets).
  void add_secrets(std::vector<std::string> more) { redact_ = redact_.with(std::move(more)); }

 private:
  EventSink sink_;
  std::string host_;
  Redactor redact_;
};

}  // namespace lockstep::detail
