// No secret in any output of the lockstep program (issue #31): passwords
// with every character a URL or a key=value string treats specially, raw
// (as people write them) and encoded, against a closed port and against the
// real server with a role that has that password; and short passwords ("1",
// "t", "true", a quote), whose redaction must never break an event's JSON.
// Every line of stdout, stderr, status --json and the metrics file is read.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "events.hpp"
#include "json.hpp"
#include "lockstep/lockstep.hpp"
#include "nasty_passwords.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

struct Output {
  int exit_code = -1;
  std::string out, err, files;  // files: the metrics file, when asked for
  [[nodiscard]] std::string all() const { return out + "\n" + err + "\n" + files; }
};

// Runs the program once; `pgpassword` non-empty: with PGPASSWORD set.
Output run_secrets_cli(const std::vector<std::string>& args, const std::string& tag, const std::string& pgpassword = {}) {
  static TempDir dir{"secrets-out"};
  static int n = 0;
  const std::string name = tag + "-" + std::to_string(++n);
  const std::string metrics = (dir.path() / (name + ".prom")).string();
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (args.at(0) == "migrate") argv.insert(argv.end(), {"--metrics-file", metrics});
  Herd h{dir.path() / name};
  if (!pgpassword.empty()) ::setenv("PGPASSWORD", pgpassword.c_str(), 1);
  h.spawn(1, argv);
  ::unsetenv("PGPASSWORD");
  h.release();
  h.wait_all(60s);
  const Child c = h.children().at(0);
  Output o{c.exit_code, c.out(), c.err(), {}};
  if (std::filesystem::exists(metrics)) o.files = read_file(metrics);
  return o;
}

std::string sql_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string{"''"} : std::string{c};
  return out + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// Every string value anywhere in a JSON document.
void strings_in(const Json& j, std::vector<std::string>& out) {
  if (j.is_string()) out.push_back(j.str());
  if (j.is_object()) {
    for (const auto& [k, v] : j.object()) strings_in(v, out);
  } else if (std::holds_alternative<std::shared_ptr<Json::Array>>(j.value)) {
    for (const auto& v : j.array()) strings_in(v, out);
  }
}

// The password, its encoded form and every fragment of 3 characters or more
// appear in no output, except a fragment that the same commands print with
// a neutral password (`vocabulary`: "ail" of "failed" is not a leak).
// Every JSON line parses, and no string value in it is the password.
void expect_hidden(const Output& o, const std::string& pw, const std::string& vocabulary) {
  CAPTURE(pw);
  CAPTURE(o.out);
  CAPTURE(o.err);
  CAPTURE(o.files);
  // What a reader sees: stderr, the metrics file, and stdout, where a JSON
  // line counts by its keys and string values (the literal true of a
  // boolean is not the password "true").
  std::string text = o.err + "\n" + o.files + "\n";
  for (const auto& line : lines_of(o.out)) {
    if (line.empty() || line.front() != '{') {
      text += line + "\n";
      continue;
    }
    try {
      const Json doc = parse_json(line);
      std::vector<std::string> values;
      strings_in(doc, values);
      for (const auto& v : values) text += v + "\n";
      for (const auto& [k, v] : doc.object()) text += k + "\n";
    } catch (const std::exception&) {
      text += line + "\n";  // fails below
    }
  }
  if (pw.size() >= 3) {
    CHECK(text.find(pw) == std::string::npos);
    CHECK(text.find(percent_encode(pw)) == std::string::npos);
    for (std::size_t len = 3; len <= pw.size(); ++len) {
      for (std::size_t i = 0; i + len <= pw.size(); ++i) {
        const auto fragment = pw.substr(i, len);
        if (vocabulary.find(fragment) != std::string::npos) continue;
        // Digits with ':', '.' or '-' alone (":54" of "Mv:5432") are what
        // clocks, durations and ports print ("12:42:54.094Z"): a run at
        // another second than the neutral one prints other ones. Such a
        // fragment counts only as part of a longer one (a CI run failed so).
        if (fragment.find_first_not_of("0123456789:.-") == std::string::npos) continue;
        CAPTURE(fragment);
        CHECK(text.find(fragment) == std::string::npos);
      }
    }
  }
  // The password as a URL's or a key's value, whatever its length.
  for (const auto& around : {":" + pw + "@", ":" + percent_encode(pw) + "@", "password=" + pw,
                             "password=" + percent_encode(pw), "password=" + kv_quote(pw)}) {
    CHECK(text.find(around) == std::string::npos);
  }
  for (const auto& line : lines_of(o.out)) {
    if (line.empty() || line.front() != '{') continue;
    CAPTURE(line);
    Json j;
    REQUIRE_NOTHROW(j = parse_json(line));
    std::vector<std::string> values;
    strings_in(j, values);
    for (const auto& v : values) CHECK(v != pw);
  }
}

// Every event and status document of `outputs` against docs/schema/.
void expect_valid_against_schema(const std::vector<Output>& outputs) {
  TempDir dump{"secrets-schema"};
  std::ofstream f{dump.path() / "lines.jsonl"};
  std::size_t n = 0;
  for (const auto& o : outputs) {
    for (const auto& line : lines_of(o.out)) {
      if (line.starts_with("{\"event\":") || line.starts_with("{\"ledger_exists\":")) {
        f << line << '\n';
        ++n;
      }
    }
  }
  f.close();
  CHECK(n > 0);
  const std::string cmd = "/usr/bin/python3 " + std::string{LOCKSTEP_SUPPORT_DIR} + "/validate_events.py " +
                          LOCKSTEP_SOURCE_DIR + " " + dump.path().string() +
                          // Only this test's lines: the suite's minimum (LOCKSTEP_EVENTS_MIN in a
                          // full run) is for the collected events of every test, not these.
                          " --min-events 0 > " +
                          (dump.path() / "report.txt").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  CAPTURE(read_file(dump.path() / "report.txt"));
  CHECK(rc == 0);
}

// The URL of `base` (postgresql://user@host:port/db) as `role` with `pw`.
std::string role_url_with_password(const std::string& base, const std::string& role, const std::string& pw) {
  const std::string url = url_as(base, role);
  const auto at = url.find('@');
  return url.substr(0, at) + ":" + pw + url.substr(at);
}

// The role the fixture's pg_hba.conf makes prove its password.
constexpr const char* kRole = "lockstep_pw";

// The database and its public schema owned by the role, so it runs the migrations.
void give_to_role(const TestDatabase& db) {
  auto c = db.connect();
  must(c.query("DO $$ BEGIN CREATE ROLE lockstep_pw LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"));
  must(c.query("ALTER DATABASE " + db.name() + " OWNER TO lockstep_pw"));
  must(c.query("ALTER SCHEMA public OWNER TO lockstep_pw"));
}

void set_password(TestDatabase& db, const std::string& pw) {
  auto c = db.connect();
  must(c.query("DO $$ BEGIN CREATE ROLE lockstep_pw LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"));
  must(c.query("ALTER ROLE lockstep_pw PASSWORD " + sql_literal(pw)));
}

// What a replica shows of a failing beat while `pw` is its role's password
// (and in its URL): the heartbeat state's last_error and to_json (a
// readiness body), every event, the registry's rows, and `status` as that
// role. Each beat fails because the server refuses the registry write with
// a message that quotes the password in its text, detail and hint (a
// trigger on lockstep.replicas, as any server-side text might): only the
// boundary's scrub of the beat's error stands between it and last_error.
Output failing_beat(TestDatabase& db, const TempDir& dir, const std::string& pw, const std::string& tag) {
  set_password(db, pw);
  const std::string url = role_url_with_password(db.url(), kRole, percent_encode(pw));
  EventLog log;
  lockstep::Settings s;
  s.database_url = url;
  s.on_event = log.sink();
  lockstep::Migrator<> m{s, lockstep::DirectorySource{dir.path()}, lockstep::Deadline<>{60s}};
  auto report = m.run();
  REQUIRE(report);
  auto hb = m.heartbeat(report.value(), lockstep::HeartbeatOptions{300ms, 3000ms});
  REQUIRE(hb);
  REQUIRE(time_until([&] { return log.count("beat") >= 1; }, 10s) < 10s);
  // Free text hides a password of kMinFreeTextSecret characters or more
  // (a shorter one is hidden where it is a value: unit/redact_test.cpp), so only
  // those are quoted.
  const bool quotable = pw.size() >= lockstep::detail::kMinFreeTextSecret;
  const std::string quoted = sql_literal("registry refused " + (quotable ? pw : std::string{"it"}));
  db.exec("CREATE OR REPLACE FUNCTION public.refuse_beat() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
          "RAISE EXCEPTION USING MESSAGE = " + quoted + ", DETAIL = " + quoted + ", HINT = " + quoted +
          "; END $f$; "
          "CREATE TRIGGER refuse_beat BEFORE INSERT OR UPDATE ON lockstep.replicas "
          "FOR EACH ROW EXECUTE FUNCTION public.refuse_beat()");
  const bool failed = time_until([&] { return log.count("beat_failed") >= 2; }, 10s) < 10s;
  const lockstep::HeartbeatState state = hb.value().state();
  Output o;
  o.exit_code = 0;
  for (const auto& e : log.all()) o.out += e.json + "\n";
  o.out += lockstep::to_json(state) + "\n";
  o.err = "last_error: " + state.last_error + "\nregistry: " +
          db.scalar("SELECT coalesce(json_agg(r)::text, '') FROM lockstep.replicas r") + "\n";
  const auto d = dir.path().string();
  for (const auto& st : {run_secrets_cli({"status", "--dir", d, "--url", url}, tag),
                         run_secrets_cli({"status", "--dir", d, "--url", url, "--json"}, tag)}) {
    o.out += st.out;
    o.err += st.err;
  }
  db.exec("DROP TRIGGER refuse_beat ON lockstep.replicas");
  hb.value().stop();
  db.exec("DROP SCHEMA lockstep CASCADE; DROP TABLE t1");
  CHECK(failed);
  CHECK(state.failed_beats >= 1);
  // The server's refusal did reach last_error (redacted): what this test attacks.
  CHECK(state.last_error.find("registry refused") != std::string::npos);
  return o;
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("no secret in any output: nasty passwords, raw and encoded, a closed port and the real server") {
    TempDir dir{"secrets-migrations"};
    write_table_migrations(dir, 2);
    const std::string d = dir.path().string();
    const std::string neutral = "Zz9Zz9Zz9";

    SUBCASE("a closed port: every form, migrate, status and background (run, status, finalize)") {
      // Each password written raw into a URL (as in issue #31), quoted in
      // key=value form, and in a query; multi-host too.
      const std::vector<std::string> passwords = {"Abc/Def+Ghi", "S3cretPart@HiddenTail", "Qx9/Zk+Wv@Jq#Yp?Fm:Hb",
                                                  "Vw'Kq\\Jz\"Xp=Zh&Gy"};
      auto forms = [](const std::string& pw) {
        std::vector<std::string> v = {
            "host=127.0.0.1 port=1 dbname=t1 user=pwuser password=" + kv_quote(pw),
            "postgresql://127.0.0.1:1/t1?user=pwuser&password=" + percent_encode(pw),
            "postgresql://pwuser:" + percent_encode(pw) + "@127.0.0.1:1,127.0.0.1:2/t1",
        };
        if (pw.find_first_of("'\\\"") == std::string::npos) {
          v.push_back("postgresql://pwuser:" + pw + "@127.0.0.1:1/t1");
          v.push_back("postgresql://pwuser:" + pw + "@127.0.0.1/t1");
          v.push_back("postgresql://pwuser:" + pw + "@127.0.0.1:1,127.0.0.1:2/t1?sslmode=disable");
        }
        return v;
      };
      auto commands = [&](const std::string& url, const std::string& tag, bool background) {
        std::vector<Output> v;
        v.push_back(run_secrets_cli({"migrate", "--dir", d, "--url", url, "--timeout", "1s"}, tag));
        v.push_back(run_secrets_cli({"status", "--dir", d, "--url", url, "--timeout", "1s"}, tag));
        v.push_back(run_secrets_cli({"status", "--dir", d, "--url", url, "--timeout", "1s", "--json"}, tag));
        v.push_back(run_secrets_cli({"migrate", "--dir", d, "--url=" + url}, tag));  // a usage error echoes the argument
        // The background runner's sessions fail like a run's (background_error), until it gives up.
        // (Two forms of each password: each command waits out its --timeout.)
        if (background) {
          v.push_back(run_secrets_cli({"background", "run", "--dir", d, "--url", url, "--timeout", "1s"}, tag));
          v.push_back(run_secrets_cli({"background", "status", "--dir", d, "--url", url, "--timeout", "1s"}, tag));
          v.push_back(run_secrets_cli({"background", "finalize", "2", "--dir", d, "--url", url, "--timeout", "1s"}, tag));
        }
        return v;
      };
      std::vector<Output> seen;
      for (const auto& pw : passwords) {
        const auto nasty = forms(pw);
        const auto plain = forms(neutral);
        for (std::size_t i = 0; i < nasty.size(); ++i) {
          CAPTURE(nasty[i]);
          std::string vocabulary;
          for (const auto& o : commands(plain[i], "closed-neutral", i < 2)) vocabulary += o.all();
          for (const auto& o : commands(nasty[i], "closed", i < 2)) {
            CHECK(o.exit_code != 0);
            expect_hidden(o, pw, vocabulary);
            seen.push_back(o);
          }
        }
      }
      expect_valid_against_schema(seen);
    }

    SUBCASE("the real server, a role with that password: migrate, status, status --json, resolve, background") {
      TestDatabase db{"secrets"};
      give_to_role(db);
      const std::vector<std::string> passwords = {"Qx9/Zk+Wv@Jq#Yp?Fm:Hb", "Vw'Kq\\Jz\"Xp Bq=Zh&Gy",
                                                  "S3cretPart@HiddenTail", "Abc/Def+Ghi"};
      auto forms = [&](const std::string& pw) {
        const std::string bare = url_as(db.url(), kRole);
        const auto hostport = bare.substr(bare.find('@') + 1, bare.find('/', bare.find('@')) - bare.find('@') - 1);
        const auto colon = hostport.find(':');
        return std::vector<std::pair<std::string, std::string>>{
            {role_url_with_password(db.url(), kRole, percent_encode(pw)), ""},
            {bare + "?password=" + percent_encode(pw), ""},
            {"host=" + hostport.substr(0, colon) + " port=" + hostport.substr(colon + 1) + " dbname=" + db.name() +
                 " user=" + std::string{kRole} + " password=" + kv_quote(pw),
             ""},
            {bare, pw},  // PGPASSWORD
        };
      };
      auto commands = [&](const std::pair<std::string, std::string>& f, const std::string& tag) {
        const auto& [url, env] = f;
        std::vector<Output> v;
        v.push_back(run_secrets_cli({"migrate", "--dir", d, "--url", url}, tag, env));
        v.push_back(run_secrets_cli({"status", "--dir", d, "--url", url}, tag, env));
        v.push_back(run_secrets_cli({"status", "--dir", d, "--url", url, "--json"}, tag, env));
        v.push_back(run_secrets_cli({"resolve", "1", "--dir", d, "--url", url}, tag, env));
        // A database that does not exist: the server's refusal, libpq's text.
        const std::string nodb = url.find("dbname=") != std::string::npos
                                     ? url.substr(0, url.find("dbname=")) + "dbname=no_such_db" +
                                           url.substr(url.find(' ', url.find("dbname=")))
                                     : url_for_database(url, "no_such_db");
        v.push_back(run_secrets_cli({"migrate", "--dir", d, "--url", nodb}, tag, env));
        v.push_back(run_secrets_cli({"background", "run", "--dir", d, "--url", url, "--timeout", "5s"}, tag, env));
        v.push_back(run_secrets_cli({"background", "status", "--dir", d, "--url", url}, tag, env));
        return v;
      };
      // A failing migration: its failure is recorded and printed by status.
      dir.write("0003_broken.sql", "SELECT * FROM no_such_table;\n");
      std::vector<Output> seen;
      for (const auto& pw : passwords) {
        const auto nasty = forms(pw);
        const auto plain = forms(neutral);
        for (std::size_t i = 0; i < nasty.size(); ++i) {
          CAPTURE(nasty[i].first);
          set_password(db, neutral);
          std::string vocabulary;
          for (const auto& o : commands(plain[i], "real-neutral")) vocabulary += o.all();
          set_password(db, pw);
          const auto got = commands(nasty[i], "real");
          CHECK(got[0].exit_code == 8);  // connected, applied 1 and 2, 3 failed
          CHECK(got[1].exit_code == 0);
          CHECK(got[1].out.find("unresolved failures") != std::string::npos);
          CHECK(got[2].exit_code == 0);
          CHECK(got[3].exit_code == 0);
          CHECK(got[4].exit_code == 5);
          CHECK(got[5].exit_code == 0);  // background run: no background file, nothing to run
          CHECK(got[6].exit_code == 0);
          for (const auto& o : got) {
            expect_hidden(o, pw, vocabulary);
            seen.push_back(o);
          }
        }
      }
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
      expect_valid_against_schema(seen);
      set_password(db, "right-one");
    }
  }

  TEST_CASE("no secret in any output: short passwords keep every event valid JSON") {
    TestDatabase db{"secrets_short"};
    give_to_role(db);
    TempDir dir{"secrets-short-migrations"};
    write_table_migrations(dir, 2);
    dir.write("0003_broken.sql", "SELECT 'true', '1', 't', '\"', '{' FROM no_such_table;\n");
    const std::string d = dir.path().string();
    std::vector<Output> seen;
    for (const std::string pw : {"1", "t", "true", "0", "\"", "\\", "{", "a:b"}) {
      CAPTURE(pw);
      set_password(db, pw);
      const std::string url = role_url_with_password(db.url(), kRole, percent_encode(pw));
      std::vector<Output> got;
      got.push_back(run_secrets_cli({"migrate", "--dir", d, "--url", url}, "short"));
      got.push_back(run_secrets_cli({"status", "--dir", d, "--url", url, "--json"}, "short"));
      got.push_back(run_secrets_cli({"migrate", "--dir", d, "--url", role_url_with_password(db.url(), kRole, "wrong" + pw)}, "short"));
      CHECK(got[0].exit_code == 8);
      CHECK(got[0].out.find("\"event\":\"migration_applied\"") != std::string::npos);
      CHECK(got[1].exit_code == 0);
      CHECK(got[2].exit_code == 5);
      for (const auto& o : got) {
        expect_hidden(o, pw, "");
        seen.push_back(o);
      }
      // Ordinary text stays readable: a one-character password does not
      // turn the messages into asterisks.
      CHECK(got[0].err.find("migration_failed [42P01]") != std::string::npos);
      must(db.connect().query("DROP SCHEMA lockstep CASCADE; DROP TABLE t1, t2"));
    }
    expect_valid_against_schema(seen);
    set_password(db, "right-one");
  }

  TEST_CASE("no secret in any output: a failing beat's last_error, its events, the registry and status") {
    TestDatabase db{"secrets_beat"};
    give_to_role(db);
    TempDir dir{"secrets-beat-migrations"};
    write_table_migrations(dir, 1);
    // What the same failure shows with a neutral password: a fragment it
    // prints too ("ail" of "failed") is not a leak (nor one of digits and
    // clock punctuation alone: expect_hidden).
    const std::string vocabulary = failing_beat(db, dir, "Zz9Zz9Zz9", "beat-neutral").all();
    std::vector<Output> seen;
    for (const auto& pw : kNastyPasswords) {
      CAPTURE(pw);
      const Output o = failing_beat(db, dir, pw, "beat");
      expect_hidden(o, pw, vocabulary);
      if (pw.size() >= lockstep::detail::kMinFreeTextSecret) {
        CHECK(o.err.find("last_error: registry refused ***") != std::string::npos);
      }
      seen.push_back(o);
    }
    expect_valid_against_schema(seen);
    set_password(db, "right-one");
  }
}
