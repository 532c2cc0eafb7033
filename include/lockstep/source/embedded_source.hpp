// Migrations compiled into the binary by lockstep_embed_migrations() (CMake),
// so the container image needs no migration files. The generator checks names,
// order and duplicates at build time; the bytes are the files' bytes, and the
// checksum is taken here by the same function as DirectorySource's
// (migration_checksum, over the canonical text), so an embedded migration's
// checksum equals the file's on disk, whichever line endings the checkout
// that built the binary gave it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/source/validate.hpp"

namespace lockstep {

struct EmbeddedMigration {
  std::int64_t version = 0;
  std::string_view name;
  std::string_view file;  // the file it was generated from, for messages
  std::string_view sql;
};

class EmbeddedSource {
 public:
  EmbeddedSource() = default;
  explicit EmbeddedSource(std::span<const EmbeddedMigration> migrations) : migrations_{migrations} {}

  [[nodiscard]] result<std::vector<Migration>> load() const {
    std::vector<Migration> out;
    out.reserve(migrations_.size());
    for (const auto& m : migrations_) {
      out.push_back(Migration{m.version, std::string{m.name}, std::string{m.sql}, std::string{m.file}, {}});
    }
    return detail::finalize_source(std::move(out));
  }

 private:
  std::span<const EmbeddedMigration> migrations_;
};

}  // namespace lockstep
