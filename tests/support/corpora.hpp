// Locates ../shared/corpora (real SQL from other projects, with licences).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace lockstep::test {

inline std::filesystem::path corpora_dir() {
  if (const char* d = std::getenv("LOCKSTEP_CORPORA"); d != nullptr && *d != '\0') return d;
#ifdef LOCKSTEP_CORPORA_DIR
  return LOCKSTEP_CORPORA_DIR;
#else
  return {};
#endif
}

}  // namespace lockstep::test
