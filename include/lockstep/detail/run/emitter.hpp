// Builds event lines with the fields every event shares.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/json.hpp"
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

// A JSON document with every string VALUE redacted: each one is decoded,
// passed through the Redactor and encoded again; keys and everything
// between strings are copied as they are. So a secret is replaced as the
// text it is (a password "\"" or "t" or "true" cannot match an escape, a
// key or a literal), and the line stays valid JSON whatever is replaced.
// `json` is lockstep's own output (detail/base/json.hpp): well-formed.
[[nodiscard]] inline std::string redact_json_values(std::string_view json, const Redactor& redact) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    if (json[i] != '"') {
      out += json[i++];
      continue;
    }
    const std::size_t open = i++;
    std::string value;
    while (i < json.size() && json[i] != '"') {
      if (json[i] != '\\' || i + 1 >= json.size()) {
        value += json[i++];
        continue;
      }
      const char e = json[i + 1];
      i += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'u': {
          unsigned cp = 0;
          for (int k = 0; k < 4 && i < json.size(); ++k, ++i) {
            const int h = redaction::hex_value(json[i]);
            cp = cp * 16 + static_cast<unsigned>(h < 0 ? 0 : h);
          }
          if (cp < 0x80) {
            value += static_cast<char>(cp);
          } else if (cp < 0x800) {
            value += static_cast<char>(0xC0 | (cp >> 6));
            value += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            value += static_cast<char>(0xE0 | (cp >> 12));
            value += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            value += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: value += e;  // '"', '\\', '/'
      }
    }
    const std::size_t close = std::min(i, json.size());
    i = close + 1;
    std::size_t next = i;
    while (next < json.size() && (json[next] == ' ' || json[next] == '\t' || json[next] == '\n')) ++next;
    if (next < json.size() && json[next] == ':') {
      out.append(json.substr(open, std::min(i, json.size()) - open));  // a key, as it was
    } else {
      append_json_string(out, redact(value));
    }
  }
  return out;
}

class Emitter {
 public:
  Emitter() = default;
  Emitter(EventSink sink, std::string host, const Redactor& redact = {})
      : sink_{std::move(sink)}, host_{std::move(host)}, redact_{redact} {}

  // `fields` is filled by the caller; common fields go first so lines read alike.
  template <class Fill>
  void emit(std::string_view name, std::int64_t elapsed_ms, Fill&& fill) const {
    if (!sink_) return;
    JsonObject o;
    o.add("event", name).add("ts", utc_timestamp()).add("elapsed_ms", elapsed_ms);
    o.add("pid", static_cast<std::int64_t>(::getpid())).add("host", host_);
    fill(o);
    // Every string value redacted, the line encoded again: whatever a field
    // holds (libpq's or the server's text included), no secret reaches the
    // sink, and the line stays the JSON the schema describes.
    sink_(Event{std::string{name}, redact_json_values(o.str(), redact_)});
  }

 private:
  EventSink sink_;
  std::string host_;
  Redactor redact_;
};

}  // namespace lockstep::detail
