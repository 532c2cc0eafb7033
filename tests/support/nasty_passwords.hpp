// Passwords people really have, and the two spellings that carry them into
// a connection string: for every test of "no secret in any output"
// (docs/promises.md, promise 4), unit and integration alike.
#pragma once

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

namespace lockstep::test {

// Every character a URL or a key=value string treats specially, raw or
// percent-encoded.
inline const std::vector<std::string> kNastyPasswords = {
    "Abc/Def+Ghi", "S3cretPart@HiddenTail", "Qx9:Zk@Wv", "p?Jq#Yp@Fm", "Hb%2FXq%40", "10%zz%Wy", "Kv@@Vk//",
    "a b", "Tx'Qu\\\\Bz", "Wz=Qj&Pk", "@", "/", "#", "?", ":", "%40", "[Xk]:Qz", "Zq,Jx@Mv:5432,Wk"};
// Short ones, whose redaction must never break an event's JSON.
inline const std::vector<std::string> kShortPasswords = {"1", "t", "true", "0", "\"", "\\", "{", "a:b", "x", "é"};

// As a URL's userinfo or query value: everything but RFC 3986's unreserved
// characters encoded.
inline std::string percent_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// As a key=value conninfo value: single-quoted, ' and \ escaped.
inline std::string kv_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace lockstep::test
