// The JSON sink: renders each event as one JSON object on one line, the
// format docs/schema/events.schema.json describes: the header fields first
// (`event`, `ts`, `elapsed_ms`, `pid`, `host`), then the event's own in the
// order events/types.hpp lists them; unset optional fields are left out.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "lockstep/events/event.hpp"
#include "lockstep/events/fields.hpp"
#include "lockstep/json.hpp"

namespace lockstep {

namespace events {

// Adds each field it is given to a JsonObject.
struct JsonWriter {
  JsonObject& o;

  void operator()(std::string_view key, const std::string& v) const { o.add(key, v); }
  void operator()(std::string_view key, std::int64_t v) const { o.add(key, v); }
  void operator()(std::string_view key, bool v) const { o.add(key, v); }
  void operator()(std::string_view key, Flag v) const {
    if (v) o.add(key, true);
  }
  template <class T>
  void operator()(std::string_view key, const std::optional<T>& v) const {
    if (v) (*this)(key, *v);
  }
  void operator()(std::string_view key, const std::vector<std::string>& v) const {
    std::string a = "[";
    for (const auto& s : v) {
      if (a.size() > 1) a += ',';
      append_json_string(a, s);
    }
    o.add_raw(key, a += ']');
  }
  template <HasFields T>
  void operator()(std::string_view key, const std::vector<T>& v) const {
    std::string a = "[";
    for (const auto& x : v) {
      if (a.size() > 1) a += ',';
      JsonObject j;
      T::fields(x, JsonWriter{j});
      a += std::move(j).take();
    }
    o.add_raw(key, a += ']');
  }
  template <class T>
  void operator()(Inlined, const std::optional<T>& v) const {
    if (v) T::fields(*v, *this);
  }
};

}  // namespace events

// The event as one JSON object, no trailing newline.
[[nodiscard]] inline std::string to_json(const Event& e) {
  JsonObject o;
  o.add("event", e.header.event).add("ts", e.header.ts).add("elapsed_ms", e.header.elapsed_ms);
  o.add("pid", e.header.pid).add("host", e.header.host);
  std::visit([&](const auto& body) { std::remove_cvref_t<decltype(body)>::fields(body, events::JsonWriter{o}); },
             e.body);
  return std::move(o).take();
}

// Writes each event as a JSON line to `out` (stderr, stdout, a file the
// caller keeps open), flushed, so a crash loses no line already written.
class JsonSink {
 public:
  explicit JsonSink(std::FILE* out) : out_{out} {}
  void operator()(const Event& e) const {
    std::string line = to_json(e);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
};

// For a sink that wants text: `write` gets each event's JSON line (no
// newline), e.g. to hand it to the application's own logger.
//
//   settings.on_event = lockstep::json_lines([&](std::string_view line) { log.info("{}", line); });
template <class Write>
[[nodiscard]] EventSink json_lines(Write write) {
  return [write = std::move(write)](const Event& e) mutable { write(std::string_view{to_json(e)}); };
}

}  // namespace lockstep
