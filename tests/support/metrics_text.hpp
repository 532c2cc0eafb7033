// Prometheus text read by a real parser, for the tests of /metrics and
// --metrics-file.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "temp_dir.hpp"

namespace lockstep::test {

// The samples of a Prometheus text exposition as prometheus_client's parser
// reads them (support/parse_metrics.py), one `name{labels} value` per line,
// then "exit=N": 0 when it parsed and every histogram is consistent.
inline std::string parsed_metrics(const std::string& text) {
  TempDir dir{"metrics"};
  dir.write("metrics.txt", text);
  const std::string cmd = std::string{"/usr/bin/python3 "} + LOCKSTEP_SUPPORT_DIR + "/parse_metrics.py < " +
                          (dir.path() / "metrics.txt").string() + " 2>&1; echo \"exit=$?\"";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

// The value of sample `name` (no labels) in parsed_metrics() output, or -1.
inline double sample(const std::string& text, const std::string& name) {
  const auto at = ("\n" + text).find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::strtod(text.c_str() + at + name.size() + 1, nullptr);
}

inline bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace lockstep::test
