// Line-ending-proof checksums (source/checksum.hpp) against a real ledger: a
// ledger applied from LF files boots with the same files in CRLF or with a
// byte-order mark, through the fast path, a leader's full read and the
// program; a ledger written by the lockstep before canonical checksums (the
// raw bytes' SHA-256) is accepted; a real edit is still refused, naming the
// file and the version (openai/codex#38528: every replica crash-looped after
// a checkout on Windows changed the line endings).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/lockstep.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

const std::string bom = "\xEF\xBB\xBF";

std::string crlf(const std::string& lf) {
  std::string out;
  for (const char c : lf) out += c == '\n' ? std::string{"\r\n"} : std::string{c};
  return out;
}

// Migration v's text with LF line endings; `extra` makes it a real edit.
std::string lf_text(int v, const std::string& extra = "") {
  const std::string t = "t" + std::to_string(v);
  return "-- migration " + std::to_string(v) + "\nCREATE TABLE " + t + " (id int PRIMARY KEY, note text);\n" +
         "INSERT INTO " + t + " VALUES (" + std::to_string(v) + ", 'a\nb');\n" + extra;
}

std::string file_name(int v) { return "000" + std::to_string(v) + "_table_" + std::to_string(v) + ".sql"; }

enum class Spelling { lf, crlf, bom_lf, bom_crlf };

void write_migrations(const TempDir& dir, int from, int to, Spelling s) {
  for (int v = from; v <= to; ++v) {
    const std::string lf = lf_text(v);
    const std::string text = s == Spelling::lf ? lf : s == Spelling::crlf ? crlf(lf)
                           : s == Spelling::bom_lf                       ? bom + lf
                                                                         : bom + crlf(lf);
    dir.write(file_name(v), text);
  }
}

// The files as the lockstep before canonical checksums loaded them: the
// checksum of the raw bytes, which is what its ledger rows hold.
struct RawChecksumSource {
  DirectorySource files;
  [[nodiscard]] result<std::vector<Migration>> load() const {
    auto r = files.load();
    if (!r) return r;
    auto ms = std::move(r).value();
    for (auto& m : ms) {
      if (!m.legacy_checksum.empty()) m.checksum = m.legacy_checksum;
      m.legacy_checksum.clear();
    }
    return ms;
  }
};

Settings settings(const TestDatabase& db, EventLog& log) {
  Settings s;
  s.database_url = db.url();
  s.deploy_version = "v-checksum";
  s.host = "test-host";
  s.on_event = log.sink();
  return s;
}

template <class Source = DirectorySource>
result<Report> boot(const TestDatabase& db, Source source) {
  EventLog log;
  return Migrator<TryLock, ExponentialBackoff, Deadline<>, Source>{settings(db, log), std::move(source)}.run();
}

// A boot that applies exactly `versions`.
template <class Source = DirectorySource>
void applies(const TestDatabase& db, Source source, const std::vector<std::int64_t>& versions) {
  auto r = boot(db, std::move(source));
  REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
  std::vector<std::int64_t> got;
  for (const auto& a : r.value().applied) got.push_back(a.version);
  CHECK(got == versions);
}

// A boot with nothing to do: no checksum error, nothing applied again.
void boots_current(const TestDatabase& db, const TempDir& dir) {
  auto r = boot(db, DirectorySource{dir.path()});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
  CHECK(r.value().role == Role::current);
  CHECK(r.value().applied.empty());
  CHECK(r.value().unknown_versions.empty());
}

// Whether the fast path's one comparison (the head against the files'
// digest chain) passes, without reading the ledger's rows.
bool fast_path_matches(const TestDatabase& db, const TempDir& dir) {
  auto c = db.connect();
  TableLedger ledger;
  auto head = ledger.head().read(c, "v-checksum");
  REQUIRE(head);
  REQUIRE_MESSAGE(head.value(), "no usable head");
  auto files = DirectorySource{dir.path()}.load();
  REQUIRE(files);
  return detail::matches_prefix(*head.value(), detail::DigestChain{files.value()});
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("a ledger applied from LF files boots with the files in CRLF or with a BOM, fast path and full path") {
    TestDatabase db{"checksum_lf"};
    TempDir dir{"checksum-lf"};
    write_migrations(dir, 1, 3, Spelling::lf);
    applies(db, DirectorySource{dir.path()}, {1, 2, 3});
    const std::string ledger_before = db.scalar("SELECT string_agg(checksum, ',' ORDER BY version) FROM lockstep.migrations");
    for (const Spelling s : {Spelling::crlf, Spelling::bom_lf, Spelling::bom_crlf}) {
      CAPTURE(static_cast<int>(s));
      write_migrations(dir, 1, 3, s);
      CHECK(fast_path_matches(db, dir));
      boots_current(db, dir);
    }
    // The full path: a leader reads every row and plans against the CRLF
    // files, and applies only the new one (itself CRLF with a BOM, whose
    // directive the BOM no longer hides and whose BOM is not sent).
    dir.write("0004_table_4.sql", bom + crlf("-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t1_note ON t1 (note);\n"));
    applies(db, DirectorySource{dir.path()}, {4});
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't1_note'::regclass") == "t");
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 4);
    CHECK(db.scalar("SELECT string_agg(checksum, ',' ORDER BY version) FROM lockstep.migrations WHERE version < 4") ==
          ledger_before);  // no row rewritten
    CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 4") ==
          detail::sha256_hex("-- lockstep:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t1_note ON t1 (note);\n"));
    write_migrations(dir, 1, 3, Spelling::lf);
    CHECK(fast_path_matches(db, dir));
    boots_current(db, dir);
  }

  TEST_CASE("a ledger written with the raw bytes' checksums of CRLF files is accepted, whatever the files are now") {
    TestDatabase db{"checksum_legacy"};
    TempDir dir{"checksum-legacy"};
    write_migrations(dir, 1, 3, Spelling::crlf);
    // Written as the lockstep before canonical checksums wrote it.
    applies(db, RawChecksumSource{DirectorySource{dir.path()}}, {1, 2, 3});
    REQUIRE(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 2") ==
            detail::sha256_hex(crlf(lf_text(2))));
    // What ran is what the file says: only the checksum is canonical.
    CHECK(db.scalar("SELECT note FROM t1") == "a\r\nb");
    // The same bytes: the fast path's legacy chain matches.
    CHECK(fast_path_matches(db, dir));
    boots_current(db, dir);
    // Converted to LF or given a BOM: the fast path's digest differs, the
    // full read accepts each row, and every boot after does the same (no loop, no rewrite).
    for (const Spelling s : {Spelling::lf, Spelling::bom_crlf}) {
      CAPTURE(static_cast<int>(s));
      write_migrations(dir, 1, 3, s);
      CHECK_FALSE(fast_path_matches(db, dir));
      boots_current(db, dir);
      boots_current(db, dir);
    }
    // A ledger that mixes both forms: the old rows raw, a new one canonical.
    write_migrations(dir, 1, 4, Spelling::crlf);
    applies(db, DirectorySource{dir.path()}, {4});
    CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 4") ==
          detail::sha256_hex(lf_text(4)));
    CHECK(db.scalar("SELECT checksum FROM lockstep.migrations WHERE version = 2") ==
          detail::sha256_hex(crlf(lf_text(2))));
    boots_current(db, dir);
    // status reports no drift for any of them.
    EventLog log;
    auto st = Migrator<TryLock, ExponentialBackoff, Deadline<>, DirectorySource>{settings(db, log),
                                                                                 DirectorySource{dir.path()}}
                  .status();
    REQUIRE_MESSAGE(st, (st ? "" : st.error().to_string()));
    CHECK(st.value().drifted.empty());
    // A dry run plans from the same rows: nothing pending, no error.
    write_migrations(dir, 1, 4, Spelling::bom_lf);
    Settings dry = settings(db, log);
    dry.mode = BootMode::dry_run;
    auto planned = Migrator<TryLock, ExponentialBackoff, Deadline<>, DirectorySource>{dry, DirectorySource{dir.path()}}.run();
    REQUIRE_MESSAGE(planned, (planned ? "" : planned.error().to_string()));
    CHECK(planned.value().role == Role::dry_run);
    CHECK(planned.value().plan.empty());
  }

  TEST_CASE("a real edit is still refused as edited, naming the file and the version, whatever the line endings") {
    TestDatabase db{"checksum_edit"};
    TempDir dir{"checksum-edit"};
    write_migrations(dir, 1, 3, Spelling::lf);
    applies(db, DirectorySource{dir.path()}, {1, 2, 3});
    SUBCASE("an edited file, now CRLF") { dir.write(file_name(2), crlf(lf_text(2, "SELECT 1;\n"))); }
    SUBCASE("an edited file, LF") { dir.write(file_name(2), lf_text(2, "SELECT 1;\n")); }
    SUBCASE("a line ending added at the end") { dir.write(file_name(2), lf_text(2, "\n")); }
    CHECK_FALSE(fast_path_matches(db, dir));
    auto r = boot(db, DirectorySource{dir.path()});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::checksum_mismatch);
    CHECK(r.error().version == 2);
    CHECK(r.error().file == (dir.path() / file_name(2)).string());
    CHECK(r.error().message.find(file_name(2)) != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
  }

  TEST_CASE("the lockstep program boots a ledger of LF files from CRLF and BOM files, and refuses an edit") {
    TestDatabase db{"checksum_cli"};
    TempDir dir{"checksum-cli"};
    write_migrations(dir, 1, 3, Spelling::lf);
    const std::string d = dir.path().string();
    auto first = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "checksum-first");
    REQUIRE(first.exit_code == 0);
    CHECK(count_substr(first.out(), "\"event\":\"migration_applied\"") == 3);
    for (const Spelling s : {Spelling::crlf, Spelling::bom_crlf}) {
      CAPTURE(static_cast<int>(s));
      write_migrations(dir, 1, 3, s);
      auto again = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "checksum-again");
      CAPTURE(again.err());
      CHECK(again.exit_code == 0);
      CHECK(count_substr(again.out(), "\"event\":\"migration_applied\"") == 0);
      CHECK(again.out().find("\"event\":\"ready\"") != std::string::npos);
      auto status = lockstep_cli({"status", "--dir", d, "--url", db.url(), "--json"}, "checksum-status");
      CHECK(status.exit_code == 0);
      CHECK(status.out().find("\"drifted\":[]") != std::string::npos);
    }
    dir.write(file_name(3), crlf(lf_text(3, "DROP TABLE t1;\n")));
    auto edited = lockstep_cli({"migrate", "--dir", d, "--url", db.url()}, "checksum-edited");
    CHECK(edited.exit_code == 7);
    CHECK(edited.err().find(file_name(3)) != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM t1") == 1);
  }

  TEST_CASE("background jobs queued with the raw bytes' checksum run from CRLF files: batches, finalize, long statements") {
    TestDatabase db{"checksum_jobs"};
    TempDir dir{"checksum-jobs"};
    const std::string orders =
        "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL);\n"
        "INSERT INTO orders SELECT g, g FROM generate_series(1, 200) g;\n"
        "CREATE TABLE seen (id bigint NOT NULL);\n";
    const std::string batch = "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                              "-- lockstep:batch-size=50\n"
                              "INSERT INTO seen SELECT id FROM orders WHERE id BETWEEN :lo AND :hi;\n";
    const std::string index = "-- lockstep:background\n-- lockstep:no-transaction\n"
                              "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_total ON orders (total);\n";
    dir.write("1_orders.sql", orders);
    dir.write("2_backfill.sql", batch);
    dir.write("3_index.sql", index);
    const std::string d = dir.path().string();
    auto queued = lockstep_cli({"migrate", "--dir", d, "--url", db.url(), "--timeout", "60s"}, "checksum-jobs-boot");
    REQUIRE(queued.exit_code == 0);
    REQUIRE(db.number("SELECT count(*) FROM lockstep.jobs WHERE state = 'queued'") == 2);
    // As the lockstep before canonical checksums queued them from a CRLF
    // checkout: the raw bytes' checksum. The files are CRLF now.
    db.exec("UPDATE lockstep.jobs SET checksum = '" + detail::sha256_hex(crlf(batch)) + "' WHERE version = 2");
    db.exec("UPDATE lockstep.jobs SET checksum = '" + detail::sha256_hex(crlf(index)) + "' WHERE version = 3");
    dir.write("1_orders.sql", crlf(orders));
    dir.write("2_backfill.sql", crlf(batch));
    dir.write("3_index.sql", crlf(index));
    auto finalized =
        lockstep_cli({"background", "finalize", "2", "--dir", d, "--url", db.url(), "--timeout", "60s"}, "checksum-fin");
    CAPTURE(finalized.err());
    CHECK(finalized.exit_code == 0);
    CHECK(db.number("SELECT count(*) FROM seen") == 200);
    CHECK(db.number("SELECT count(DISTINCT id) FROM seen") == 200);
    auto ran = lockstep_cli({"background", "run", "--dir", d, "--url", db.url(), "--timeout", "60s"}, "checksum-run");
    CAPTURE(ran.err());
    CHECK(ran.exit_code == 0);
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 3") == "succeeded");
    CHECK(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_total'::regclass") == "t");
  }
}
