// Migrations given in code: tests, generated schemas, or SQL the app builds.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/source/validate.hpp"

namespace lockstep {

struct MigrationSpec {
  std::int64_t version = 0;
  std::string name;
  std::string sql;
};

class MemorySource {
 public:
  MemorySource() = default;
  MemorySource(std::initializer_list<MigrationSpec> specs) : specs_{specs} {}
  explicit MemorySource(std::vector<MigrationSpec> specs) : specs_{std::move(specs)} {}

  void add(MigrationSpec spec) { specs_.push_back(std::move(spec)); }

  [[nodiscard]] result<std::vector<Migration>> load() const {
    std::vector<Migration> out;
    out.reserve(specs_.size());
    for (const auto& s : specs_) {
      const std::string origin = "memory:" + std::to_string(s.version) + "_" + s.name;
      if (s.version <= 0) {
        auto e = make_error(errc::source_invalid, "migration '" + s.name + "' has version " +
                                                      std::to_string(s.version) + "; versions must be positive");
        e.file = origin;
        return e;
      }
      if (s.name.empty()) {
        auto e = make_error(errc::source_invalid,
                            "migration " + std::to_string(s.version) + " has an empty name; give it a name");
        e.version = s.version;
        return e;
      }
      out.push_back(Migration{s.version, s.name, s.sql, origin, {}});
    }
    return detail::finalize_source(std::move(out));
  }

 private:
  std::vector<MigrationSpec> specs_;
};

}  // namespace lockstep
