// Redaction, for an application that prints text that may hold a secret
// (a connection string, an error it got from elsewhere) beside lockstep's
// own output, which is redacted already. The same mechanism lockstep uses
// (docs/operations.md, "Secrets"):
//
//   const lockstep::Redactor redact{lockstep::secrets_in(url)};
//   std::cerr << redact("cannot reach " + url) << '\n';   // cannot reach postgresql://app:***@db/app
//
// A Redactor replaces the password of any URL and the value of any
// *password key in the text, whatever the secrets it was given, and each
// secret it was given wherever it appears (a short one only between
// delimiters). `with()` adds more secrets.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/redact.hpp"

namespace lockstep {

using Redactor = detail::Redactor;

// Every secret a connection string (URL or key=value) holds, in every
// spelling that may be printed.
[[nodiscard]] inline std::vector<std::string> secrets_in(std::string_view conninfo) {
  return detail::secrets_in(conninfo);
}

// The secrets libpq reads from the environment rather than the URL (PGPASSWORD).
[[nodiscard]] inline std::vector<std::string> environment_secrets() { return detail::environment_secrets(); }

}  // namespace lockstep
