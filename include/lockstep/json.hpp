// A small JSON object writer: flat objects of strings, integers and
// booleans, with nested arrays or objects added as written text (add_raw).
// The JSON event sink (events/json_sink.hpp) renders event lines with it, and
// the lockstep program its report and `status --json`. Public API: an
// application that writes its own JSON beside lockstep's events gets the
// same escaping.
//
//   lockstep::JsonObject o;
//   o.add("version", std::int64_t{3}).add("name", "add users").add("ok", true);
//   o.str();  // {"version":3,"name":"add users","ok":true}
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include "lockstep/detail/base/utf8.hpp"

namespace lockstep {

// A byte that starts no UTF-8 sequence (a server message in another
// encoding, a setting from the environment) is written as U+FFFD: an event
// line is always valid JSON, whatever text reaches it.
// Appends `s` as a JSON string (quoted and escaped) to `out`.
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = detail::utf8_sequence_at(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value) {
    key_(key);
    append_json_string(out_, value);
    return *this;
  }
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view{value}); }
  JsonObject& add(std::string_view key, const std::string& value) { return add(key, std::string_view{value}); }
  JsonObject& add(std::string_view key, std::int64_t value) {
    key_(key);
    out_ += std::to_string(value);
    return *this;
  }
  JsonObject& add(std::string_view key, int value) { return add(key, static_cast<std::int64_t>(value)); }
  JsonObject& add(std::string_view key, bool value) {
    key_(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  // `json` must be one well-formed JSON value: it is copied as it is.
  JsonObject& add_raw(std::string_view key, std::string_view json) {
    key_(key);
    out_ += json;
    return *this;
  }
  [[nodiscard]] std::string str() const { return out_ + '}'; }
  // The object so far, closed, moved out: the writer is spent.
  [[nodiscard]] std::string take() && { return std::move(out_ += '}'); }

 private:
  void key_(std::string_view key) {
    out_ += out_.size() > 1 ? "," : "";
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_ = "{";
};

}  // namespace lockstep
