// `lockstep new NAME`: the decisions (which version, which file name, what
// header), kept apart from the file system so they are unit-tested directly;
// main.cpp does the listing, the ledger read and the O_EXCL create.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::cli {

// A name is safe in a file name on every system and in a shell: letters,
// digits, '_' and '-'. A space, a slash or a dot would make a file that
// DirectorySource reads under another name, or in another directory.
[[nodiscard]] inline std::optional<std::string> invalid_migration_name(std::string_view name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > 100) return "the name is longer than 100 characters";
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-';
    if (ok) continue;
    const std::string what = c == ' '   ? "a space"
                             : c == '/' ? "a slash"
                             : c == '.' ? "a dot"
                             : static_cast<unsigned char>(c) >= 0x80 || c < ' ' ? "a character outside printable ASCII"
                                                                                : std::string{"'"} + c + "'";
    return "it holds " + what + "; use letters, digits, '_' and '-' only";
  }
  return std::nullopt;
}

// How the directory numbers its files, read from its newest one.
struct Numbering {
  bool timestamp = false;  // YYYYMMDDHHMMSS, UTC
  std::size_t width = 4;   // sequential: the digits of the newest file's version, zero-padded
};

// `newest_digits`: the version digits of the newest file's name as written
// ("0007", "20260101120000"); empty for an empty directory (0001, 0002, ...).
[[nodiscard]] inline Numbering numbering_of(std::string_view newest_digits) {
  Numbering n;
  if (newest_digits.empty()) return n;
  // Fourteen digits from a year 19xx or later: a timestamp to the second,
  // as goose, dbmate, golang-migrate -seq=false and Rails write them.
  n.timestamp = newest_digits.size() == 14 && newest_digits.substr(0, 2) >= "19";
  n.width = newest_digits.size();
  return n;
}

// `now` as YYYYMMDDHHMMSS (UTC).
[[nodiscard]] inline std::string utc_timestamp(std::time_t now) {
  std::tm tm{};
  gmtime_r(&now, &tm);
  char out[32];
  std::snprintf(out, sizeof out, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return out;
}

// The next version's digits as the file name spells them: the timestamp of
// `now`, or the newest version plus one, zero-padded to the same width.
[[nodiscard]] inline std::string next_version_digits(const Numbering& n, std::int64_t newest, std::time_t now) {
  if (n.timestamp) return utc_timestamp(now);
  std::string digits = std::to_string(newest + 1);
  if (digits.size() < n.width) digits.insert(0, n.width - digits.size(), '0');
  return digits;
}

// What a new file starts with: where the directives go and the common ones.
// Each directive ends its line, so that it is never read as one here (a
// directive is a comment whose text starts with "lockstep:") and a copy
// from its "--" on is the directive.
[[nodiscard]] inline std::string migration_template(const std::string& file_name) {
  return "-- " + file_name + ", created by lockstep new.\n"
         "--\n"
         "-- Directives go on the first lines, before any statement, one per line\n"
         "-- (docs/migrations.md). The common ones:\n"
         "--   outside a transaction (CREATE INDEX CONCURRENTLY;\n"
         "--   safe to run again: IF NOT EXISTS, IF EXISTS)      -- lockstep:no-transaction\n"
         "--   drops what older app code still uses, once no\n"
         "--   older replica is alive (docs/expand-contract.md)  -- lockstep:phase=contract\n"
         "--   this file's lock_timeout                          -- lockstep:lock-timeout=5s\n"
         "--   a batched backfill (docs/background.md)           -- lockstep:background\n"
         "--   accept a lock-safety finding on purpose           -- lockstep:allow=<rule> <reason>\n"
         "-- An applied file never changes: a fix is a new file (lockstep new).\n"
         "\n";
}

}  // namespace lockstep::cli
