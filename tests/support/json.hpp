// A small strict JSON parser for tests that check event lines as JSON, not
// as substrings.
#pragma once

#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lockstep::test {

struct Json {
  using Object = std::map<std::string, Json>;
  using Array = std::vector<Json>;
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> value;

  [[nodiscard]] bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(value); }
  [[nodiscard]] const Object& object() const { return *std::get<std::shared_ptr<Object>>(value); }
  [[nodiscard]] const Array& array() const { return *std::get<std::shared_ptr<Array>>(value); }
  [[nodiscard]] bool has(const std::string& k) const { return is_object() && object().count(k) != 0; }
  [[nodiscard]] const Json& operator[](const std::string& k) const { return object().at(k); }
  [[nodiscard]] bool is_string() const { return std::holds_alternative<std::string>(value); }
  [[nodiscard]] bool is_number() const { return std::holds_alternative<double>(value); }
  [[nodiscard]] bool is_bool() const { return std::holds_alternative<bool>(value); }
  [[nodiscard]] const std::string& str() const { return std::get<std::string>(value); }
  [[nodiscard]] double num() const { return std::get<double>(value); }
  [[nodiscard]] bool boolean() const { return std::get<bool>(value); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_{s} {}

  // Throws std::runtime_error on anything that is not exactly one JSON value.
  Json parse() {
    Json v = value();
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("invalid JSON at " + std::to_string(i_) + ": " + why);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string{"expected '"} + c + "'");
    ++i_;
  }
  Json value() {
    const char c = peek();
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return Json{string()};
    if (s_.substr(i_, 4) == "true") return i_ += 4, Json{true};
    if (s_.substr(i_, 5) == "false") return i_ += 5, Json{false};
    if (s_.substr(i_, 4) == "null") return i_ += 4, Json{nullptr};
    return Json{number()};
  }
  Json object() {
    expect('{');
    auto o = std::make_shared<Json::Object>();
    if (peek() == '}') return ++i_, Json{o};
    for (;;) {
      if (peek() != '"') fail("expected a key");
      std::string k = string();
      expect(':');
      if (o->count(k) != 0) fail("duplicate key " + k);
      (*o)[k] = value();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return Json{o};
    }
  }
  Json array() {
    expect('[');
    auto a = std::make_shared<Json::Array>();
    if (peek() == ']') return ++i_, Json{a};
    for (;;) {
      a->push_back(value());
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(']');
      return Json{a};
    }
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("bad escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("bad \\u escape");
          const int cp = std::stoi(std::string{s_.substr(i_, 4)}, nullptr, 16);
          i_ += 4;
          if (cp < 0x80) out += static_cast<char>(cp);
          else out += '?';  // tests only need ASCII escapes
          break;
        }
        default: fail("bad escape");
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  double number() {
    const std::size_t from = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) != 0 || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) {
      ++i_;
    }
    if (from == i_) fail("expected a value");
    return std::stod(std::string{s_.substr(from, i_ - from)});
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

inline Json parse_json(std::string_view s) { return JsonParser{s}.parse(); }

}  // namespace lockstep::test
