// --metrics-file: the run's metrics in Prometheus's text format, for
// node_exporter's textfile collector (an init container or a pre-deploy job
// ends before anything could scrape it). Written to a temporary file and
// renamed, so the collector never reads half a file.
#pragma once

#include <cstdio>
#include <fstream>
#include <string>

namespace lockstep::cli {

[[nodiscard]] inline bool write_metrics_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << text;
    if (!out.flush()) return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace lockstep::cli
