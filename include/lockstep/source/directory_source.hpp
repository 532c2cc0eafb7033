// Migrations from files named <version>_<name>.sql in one directory.
//
// The version is a positive integer (0001, 20261120093000); leading zeros do
// not matter, so 0001_a.sql and 1_b.sql are duplicates. Files that do not end
// in .sql, and hidden files, are ignored; a .sql file whose name does not parse
// is an error, because a typo must not silently skip a migration.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/source/validate.hpp"

namespace lockstep {

namespace detail {

struct ParsedName {
  std::int64_t version = 0;
  std::string name;
};

// "<digits>_<name>.sql" -> {version, name}; empty optional-like (version 0) on failure.
[[nodiscard]] inline result<ParsedName> parse_migration_file_name(const std::string& file_name) {
  auto bad = [&](const std::string& why) {
    auto e = make_error(errc::source_invalid,
                        "cannot use migration file '" + file_name + "': " + why +
                            "; name it <version>_<name>.sql, e.g. 0001_create_users.sql");
    e.file = file_name;
    return e;
  };
  if (file_name.size() < 4 || file_name.compare(file_name.size() - 4, 4, ".sql") != 0) return bad("not a .sql file");
  const std::string stem = file_name.substr(0, file_name.size() - 4);
  std::size_t digits = 0;
  while (digits < stem.size() && stem[digits] >= '0' && stem[digits] <= '9') ++digits;
  if (digits == 0) return bad("the name does not start with a version number");
  if (digits == stem.size() || stem[digits] != '_') return bad("the version must be followed by '_' and a name");
  if (digits + 1 == stem.size()) return bad("the name after the version is empty");
  ParsedName p;
  const auto [ptr, ec] = std::from_chars(stem.data(), stem.data() + digits, p.version);
  if (ec != std::errc{} || ptr != stem.data() + digits) return bad("the version does not fit in a 64-bit integer");
  if (p.version <= 0) return bad("the version must be positive");
  p.name = stem.substr(digits + 1);
  return p;
}

}  // namespace detail

class DirectorySource {
 public:
  DirectorySource() : DirectorySource{"migrations"} {}
  // A relative directory is resolved here, once, against the working
  // directory of the moment: a heartbeat's background run loads the source
  // again later, and an application that chdir()s meanwhile must not find
  // another directory (or none). File names in events and errors stay as
  // given.
  explicit DirectorySource(std::filesystem::path directory)
      : directory_{std::move(directory)}, resolved_{resolve(directory_)} {}

  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }

  [[nodiscard]] result<std::vector<Migration>> load() const {
    std::error_code ec;
    if (!std::filesystem::is_directory(resolved_, ec)) {
      auto e = make_error(errc::source_invalid, "migration directory '" + directory_.string() +
                                                    "' does not exist or is not a directory; pass the directory "
                                                    "that holds the <version>_<name>.sql files");
      e.file = directory_.string();
      return e;
    }
    std::vector<Migration> out;
    // Every filesystem call reports through an error_code: an entry that
    // vanishes, a permission change or an I/O error mid-listing is a
    // source_invalid error naming the path, never an exception.
    std::filesystem::directory_iterator it{resolved_, ec};
    if (ec) return unreadable(directory_, ec.message());
    for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) return unreadable(directory_, ec.message());
      const auto& entry = *it;
      const std::string file_name = entry.path().filename().string();
      if (file_name.empty() || file_name[0] == '.') continue;
      if (entry.path().extension() != ".sql") continue;
      auto parsed = detail::parse_migration_file_name(file_name);
      if (!parsed) {
        auto e = std::move(parsed).error();
        e.file = (directory_ / entry.path().filename()).string();
        return e;
      }
      // A directory (or socket, or dangling link) named like a migration is
      // a mistake to report, not a file to skip: a migration would vanish.
      if (!std::filesystem::is_regular_file(entry.path(), ec)) {
        return unreadable(directory_ / entry.path().filename(), ec ? ec.message()
                                           : "it is not a regular file (a directory or a dangling link?); a "
                                             "migration must be a file");
      }
      const auto shown = directory_ / entry.path().filename();
      auto sql = read_whole(entry.path(), shown);
      if (!sql) return std::move(sql).error();
      Migration m;
      m.version = parsed.value().version;
      m.name = parsed.value().name;
      m.sql = std::move(sql).value();
      m.origin = shown.string();
      out.push_back(std::move(m));
    }
    if (ec) return unreadable(directory_, ec.message());
    return detail::finalize_source(std::move(out));
  }

 private:
  // Streams without exceptions; a read that fails part-way is an error.
  [[nodiscard]] static result<std::string> read_whole(const std::filesystem::path& p,
                                                      const std::filesystem::path& shown) {
    std::ifstream in{p, std::ios::binary};
    if (!in) return unreadable(shown, "cannot open for reading");
    std::string sql{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    if (in.bad()) return unreadable(shown, "read error");
    return sql;
  }

  // Without a working directory (it was removed), the path stays relative.
  [[nodiscard]] static std::filesystem::path resolve(const std::filesystem::path& p) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(p, ec);
    return ec ? p : absolute;
  }

  [[nodiscard]] static Error unreadable(const std::filesystem::path& p, const std::string& why) {
    auto e = make_error(errc::source_invalid,
                        "cannot read '" + p.string() + "': " + why + "; check the path and its permissions");
    e.file = p.string();
    return e;
  }

  std::filesystem::path directory_;  // as given: what events and errors name
  std::filesystem::path resolved_;   // what load() reads
};

}  // namespace lockstep
