// Reading whole files and first lines, for tests and benchmarks.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace lockstep::test {

[[nodiscard]] inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// First line without its newline; "" when the file is missing.
[[nodiscard]] inline std::string read_first_line(const std::filesystem::path& p) {
  std::ifstream in{p};
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace lockstep::test
