// Line-ending-proof checksums (source/checksum.hpp): the canonical text, the
// legacy raw-bytes checksum, what a recorded checksum is accepted as, and the
// sources, plan and digest chain that use them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lockstep/detail/base/digest.hpp"
#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/detail/run/failure_gate.hpp"
#include "lockstep/detail/run/plan.hpp"
#include "lockstep/source/checksum.hpp"
#include "lockstep/source/directory_source.hpp"
#include "lockstep/source/embedded_source.hpp"
#include "lockstep/source/memory_source.hpp"
#include "lockstep/sql/directives.hpp"
#include "temp_dir.hpp"

using namespace lockstep;
using lockstep::test::TempDir;

namespace {
const std::string bom = "\xEF\xBB\xBF";
const std::string lf = "-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN c;\n";
const std::string crlf = "-- lockstep:phase=contract\r\nALTER TABLE t DROP COLUMN c;\r\n";

Migration loaded(const std::string& sql) {
  auto r = MemorySource{{1, "m", sql}}.load();
  REQUIRE(r);
  return r.value().at(0);
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("canonical_text: a leading BOM removed, CRLF and a lone CR turned into LF, nothing else") {
    CHECK(canonical_text("") == "");
    CHECK(canonical_text(bom) == "");
    CHECK(canonical_text(bom + "SELECT 1;") == "SELECT 1;");
    CHECK(canonical_text("a\r\nb\r\n") == "a\nb\n");
    CHECK(canonical_text("a\rb\r") == "a\nb\n");
    CHECK(canonical_text("a\r\n\r\nb") == "a\n\nb");
    CHECK(canonical_text("a\n\rb") == "a\n\nb");              // LF then a lone CR: two line ends
    CHECK(canonical_text("a\r\r\nb\nc\r") == "a\n\nb\nc\n");  // mixed
    CHECK(canonical_text(bom + "a\r\nb") == "a\nb");
    // A BOM not at the start is text (in a string literal, say), and only one is removed.
    CHECK(canonical_text("a" + bom + "b") == "a" + bom + "b");
    CHECK(canonical_text(bom + bom + "a") == bom + "a");
    CHECK(canonical_text("SELECT 1;  \n") == "SELECT 1;  \n");  // trailing spaces count
    CHECK(canonical_text("SELECT 1;") != canonical_text("SELECT 1;\n"));
  }

  TEST_CASE("migration_checksum: LF, CRLF and a BOM give one checksum, an edit another") {
    const std::string c = migration_checksum(lf);
    CHECK(c == detail::sha256_hex(lf));  // an LF file's checksum is what lockstep always recorded
    CHECK(migration_checksum(crlf) == c);
    CHECK(migration_checksum(bom + lf) == c);
    CHECK(migration_checksum(bom + crlf) == c);
    CHECK(migration_checksum("-- lockstep:phase=contract\rALTER TABLE t DROP COLUMN c;\r") == c);
    CHECK(migration_checksum("-- lockstep:phase=contract\nALTER TABLE t DROP COLUMN d;\n") != c);
    CHECK(migration_checksum("") == detail::sha256_hex(""));
    CHECK(legacy_checksum(lf).empty());
    CHECK(legacy_checksum(crlf) == detail::sha256_hex(crlf));
    CHECK(legacy_checksum(bom + lf) == detail::sha256_hex(bom + lf));
  }

  TEST_CASE("sources fill the canonical checksum, the legacy one, and send no BOM") {
    TempDir dir{"checksum-source"};
    dir.write("1_lf.sql", lf);
    dir.write("2_crlf.sql", crlf);
    dir.write("3_bom.sql", bom + crlf);
    auto r = DirectorySource{dir.path()}.load();
    REQUIRE(r);
    const auto& ms = r.value();
    REQUIRE(ms.size() == 3);
    for (const auto& m : ms) {
      CAPTURE(m.origin);
      CHECK(m.checksum == detail::sha256_hex(lf));
      CHECK(sql::declares_contract(m.sql));  // a BOM no longer hides the directives
      CHECK(m.sql.rfind(bom, 0) == std::string::npos);
    }
    CHECK(ms[0].legacy_checksum.empty());
    CHECK(ms[1].legacy_checksum == detail::sha256_hex(crlf));
    CHECK(ms[1].sql == crlf);  // executed as written: only the checksum is canonical
    CHECK(ms[2].legacy_checksum == detail::sha256_hex(bom + crlf));
    CHECK(ms[2].sql == crlf);
    const Migration memory = loaded(bom + crlf);
    CHECK(memory.checksum == ms[2].checksum);
    CHECK(memory.legacy_checksum == ms[2].legacy_checksum);
    const EmbeddedMigration embedded[]{{1, "m", "f", crlf}};
    auto e = EmbeddedSource{embedded}.load();
    REQUIRE(e);
    CHECK(e.value()[0].checksum == ms[1].checksum);
    CHECK(e.value()[0].legacy_checksum == ms[1].legacy_checksum);
  }

  TEST_CASE("checksum_matches: the canonical checksum and every raw spelling of the same text, never an edit") {
    const Migration now_lf = loaded(lf);
    const Migration now_crlf = loaded(crlf);
    for (const Migration* m : {&now_lf, &now_crlf}) {
      CAPTURE(m->sql);
      // What lockstep records now, and what it recorded before from each checkout.
      CHECK(detail::checksum_matches(*m, migration_checksum(lf)));
      CHECK(detail::checksum_matches(*m, detail::sha256_hex(lf)));
      CHECK(detail::checksum_matches(*m, detail::sha256_hex(crlf)));
      CHECK(detail::checksum_matches(*m, detail::sha256_hex(bom + lf)));
      CHECK(detail::checksum_matches(*m, detail::sha256_hex(bom + crlf)));
      // An edit, or a file whose spelling was mixed, is not the same file.
      CHECK_FALSE(detail::checksum_matches(*m, detail::sha256_hex("-- lockstep:phase=contract\nSELECT 1;\n")));
      CHECK_FALSE(detail::checksum_matches(*m, detail::sha256_hex(
                                                   "-- lockstep:phase=contract\r\nALTER TABLE t DROP COLUMN c;\n")));
      CHECK_FALSE(detail::checksum_matches(*m, ""));
      CHECK_FALSE(detail::checksum_matches(*m, "EDITED"));
    }
  }

  TEST_CASE("plan accepts a ledger row of either checksum form and refuses an edit, naming file and version") {
    const Migration m = loaded(crlf);
    const std::vector<Migration> source{m};
    for (const std::string& recorded : {m.checksum, detail::sha256_hex(crlf), detail::sha256_hex(bom + lf)}) {
      auto p = detail::plan(source, {AppliedMigration{1, "m", recorded, "", 0, "d", "h"}}, 1);
      CHECK_MESSAGE(p, recorded);
    }
    auto edited = detail::plan(source, {AppliedMigration{1, "m", detail::sha256_hex("SELECT 2;\n"), "", 0, "d", "h"}}, 1);
    REQUIRE_FALSE(edited);
    CHECK(edited.error().code == errc::checksum_mismatch);
    CHECK(edited.error().version == 1);
    CHECK(edited.error().file == m.origin);
  }

  TEST_CASE("DigestChain matches a ledger of canonical rows and one of legacy rows, not a mix") {
    const std::vector<Migration> source{loaded(crlf)};
    std::vector<Migration> two = source;
    two.push_back(MemorySource{{2, "n", "SELECT 2;\r\n"}}.load().value().at(0));
    const detail::DigestChain chain{two};
    const std::string canonical = detail::ledger_digest({{1, two[0].checksum}, {2, two[1].checksum}});
    const std::string legacy = detail::ledger_digest({{1, two[0].legacy_checksum}, {2, two[1].legacy_checksum}});
    const std::string mixed = detail::ledger_digest({{1, two[0].legacy_checksum}, {2, two[1].checksum}});
    CHECK(chain.matches(2, canonical));
    CHECK(chain.matches(2, legacy));
    CHECK_FALSE(chain.matches(2, mixed));  // the full read accepts it row by row
    CHECK(chain.matches(1, detail::ledger_digest({{1, two[0].legacy_checksum}})));
    // LF files have no legacy chain: nothing but the canonical digest matches.
    const detail::DigestChain plain{{loaded(lf)}};
    CHECK(plain.matches(1, detail::ledger_digest({{1, detail::sha256_hex(lf)}})));
    CHECK_FALSE(plain.matches(1, detail::ledger_digest({{1, detail::sha256_hex(crlf)}})));
  }

  TEST_CASE("a failure recorded with the raw bytes' checksum still stops its deploy, an edit does not") {
    const Migration m = loaded(crlf);
    FailureRecord f;
    f.version = 1;
    f.deploy_version = "d";
    f.sqlstate = "42P01";
    const Settings s;
    for (const std::string& recorded : {m.checksum, detail::sha256_hex(crlf), detail::sha256_hex(lf)}) {
      f.checksum = recorded;
      auto r = detail::refuse_recorded_failure(s, "d", m, {f});
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::migration_failed);
    }
    f.checksum = detail::sha256_hex("SELECT 1;\n");
    CHECK(detail::refuse_recorded_failure(s, "d", m, {f}));
  }
}
