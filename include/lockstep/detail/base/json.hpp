// Minimal JSON object writer for event lines: flat objects of strings,
// integers, booleans and nested arrays of objects are all lockstep emits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "lockstep/detail/base/utf8.hpp"

namespace lockstep::detail {

// A byte that starts no UTF-8 sequence (a server message in another
// encoding, a setting from the environment) is written as U+FFFD: an event
// line is always valid JSON, whatever text reaches it.
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_at(s, i);
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
  JsonObject& add_raw(std::string_view key, std::string_view json) {
    key_(key);
    out_ += json;
    return *this;
  }
  [[nodiscard]] std::string str() const { return out_ + '}'; }

 private:
  void key_(std::string_view key) {
    out_ += out_.size() > 1 ? "," : "";
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_ = "{";
};

}  // namespace lockstep::detail
