// Reads the top-level members of one of lockstep's own event objects, for
// sinks that aggregate them (metrics.hpp). Not a general JSON parser: it
// trusts the writer (detail/base/json.hpp) to produce valid JSON, skips nested
// arrays and objects whole, and gives each value as written.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace lockstep::detail {

class JsonFields {
 public:
  explicit JsonFields(std::string_view json) : json_{json} {}

  // The value of top-level `key` as written ("12", "\"leader\"", "true", "[..]").
  [[nodiscard]] std::optional<std::string_view> raw(std::string_view key) const {
    std::size_t i = json_.find('{');
    if (i == std::string_view::npos) return std::nullopt;
    ++i;
    while (i < json_.size()) {
      i = skip_space(i);
      if (i >= json_.size() || json_[i] != '"') return std::nullopt;
      const std::size_t key_end = string_end(i);
      const std::string_view name = json_.substr(i + 1, key_end - i - 2);
      i = skip_space(key_end);
      if (i >= json_.size() || json_[i] != ':') return std::nullopt;
      const std::size_t value = skip_space(i + 1);
      const std::size_t end = value_end(value);
      if (name == key) return json_.substr(value, end - value);
      i = skip_space(end);
      if (i >= json_.size() || json_[i] != ',') return std::nullopt;
      ++i;
    }
    return std::nullopt;
  }

  [[nodiscard]] std::optional<double> number(std::string_view key) const {
    const auto r = raw(key);
    if (!r || r->empty() || (r->front() != '-' && (r->front() < '0' || r->front() > '9'))) return std::nullopt;
    return std::strtod(std::string{*r}.c_str(), nullptr);
  }

  [[nodiscard]] std::optional<bool> boolean(std::string_view key) const {
    const auto r = raw(key);
    if (r && *r == "true") return true;
    if (r && *r == "false") return false;
    return std::nullopt;
  }

  // A string member, unescaped (the writer escapes only \" \\ and control characters).
  [[nodiscard]] std::optional<std::string> text(std::string_view key) const {
    const auto r = raw(key);
    if (!r || r->size() < 2 || r->front() != '"') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i + 1 < r->size(); ++i) {
      if ((*r)[i] == '\\' && i + 2 < r->size()) {
        const char c = (*r)[++i];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        if (c == 'u') out.back() = '?', i += 4;  // control characters: not needed for labels
      } else {
        out += (*r)[i];
      }
    }
    return out;
  }

 private:
  [[nodiscard]] std::size_t skip_space(std::size_t i) const {
    while (i < json_.size() && (json_[i] == ' ' || json_[i] == '\n' || json_[i] == '\t' || json_[i] == '\r')) ++i;
    return i;
  }
  // One past the closing quote of the string that opens at `i`.
  [[nodiscard]] std::size_t string_end(std::size_t i) const {
    for (++i; i < json_.size(); ++i) {
      if (json_[i] == '\\') ++i;
      else if (json_[i] == '"') return i + 1;
    }
    return json_.size();
  }
  [[nodiscard]] std::size_t value_end(std::size_t i) const {
    if (i >= json_.size()) return i;
    if (json_[i] == '"') return string_end(i);
    if (json_[i] == '{' || json_[i] == '[') {
      int depth = 0;
      for (; i < json_.size(); ++i) {
        if (json_[i] == '"') {
          i = string_end(i) - 1;
        } else if (json_[i] == '{' || json_[i] == '[') {
          ++depth;
        } else if ((json_[i] == '}' || json_[i] == ']') && --depth == 0) {
          return i + 1;
        }
      }
      return json_.size();
    }
    while (i < json_.size() && json_[i] != ',' && json_[i] != '}') ++i;
    return i;
  }

  std::string_view json_;
};

}  // namespace lockstep::detail
