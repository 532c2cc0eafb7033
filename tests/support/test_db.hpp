// Test databases on the harness's PostgreSQL: one fresh database per test.
//
// The server URL comes from LOCKSTEP_TEST_URL, else from the state directory
// the ctest fixture wrote (LOCKSTEP_TEST_STATE, default: compiled in). Under
// CI=true a missing server fails the test instead of skipping it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

#include "files.hpp"

#include "lockstep/connection.hpp"

namespace lockstep::test {

// First line of `<state dir>/url`; the state dir comes from `env`, else `compiled`.
inline std::string url_from_state(const char* env, const char* compiled) {
  std::string state = compiled;
  if (const char* s = std::getenv(env); s != nullptr && *s != '\0') state = s;
  return read_first_line(state + "/url");
}

#ifndef LOCKSTEP_TEST_STATE_DIR
#define LOCKSTEP_TEST_STATE_DIR ""
#endif
#ifndef LOCKSTEP_TEST_PGBOUNCER_STATE_DIR
#define LOCKSTEP_TEST_PGBOUNCER_STATE_DIR ""
#endif

inline std::string server_url() {
  if (const char* u = std::getenv("LOCKSTEP_TEST_URL"); u != nullptr && *u != '\0') return u;
  return url_from_state("LOCKSTEP_TEST_STATE", LOCKSTEP_TEST_STATE_DIR);
}

// The PostgreSQL bin dir the fixture's server runs from (pg_server.sh records
// it; "" under LOCKSTEP_TEST_URL), so a test that starts its own server starts
// the same version.
inline std::string server_bindir() {
  std::string state = LOCKSTEP_TEST_STATE_DIR;
  if (const char* s = std::getenv("LOCKSTEP_TEST_STATE"); s != nullptr && *s != '\0') state = s;
  return read_first_line(state + "/bindir");
}

// The PgBouncer (transaction pooling) in front of the test server, for the
// database "postgres"; use url_for_database() for another one.
inline std::string pgbouncer_url() {
  return url_from_state("LOCKSTEP_TEST_PGBOUNCER_STATE", LOCKSTEP_TEST_PGBOUNCER_STATE_DIR);
}

#ifndef LOCKSTEP_TEST_DE_STATE_DIR
#define LOCKSTEP_TEST_DE_STATE_DIR ""
#endif

// The second server, whose lc_messages is German ("" when not started).
inline std::string german_server_url() {
  return url_from_state("LOCKSTEP_TEST_DE_STATE", LOCKSTEP_TEST_DE_STATE_DIR);
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string{ci} == "true";
}

// Replaces the database name in a postgresql:// URL.
inline std::string url_for_database(const std::string& server, const std::string& db) {
  const auto q = server.find('?');
  const std::string base = server.substr(0, q);
  const std::string query = q == std::string::npos ? "" : server.substr(q);
  const auto slash = base.find('/', base.find("://") + 3);
  return (slash == std::string::npos ? base : base.substr(0, slash)) + "/" + db + query;
}

// The same URL, logging in as `role` (the test server's URLs name a user and no password).
inline std::string url_as(std::string url, const std::string& role) {
  const auto start = url.find("://") + 3;
  url.replace(start, url.find('@') - start, role);
  return url;
}

inline Connection connect_or_fail(const std::string& url) {
  auto c = Connection::open(url);
  if (!c) throw std::runtime_error("cannot connect to the test server: " + c.error().message);
  return std::move(c).value();
}

inline Rows must(result<Rows> r) {
  if (!r) throw std::runtime_error("test query failed: " + r.error().message);
  return std::move(r).value();
}

// A fresh database, dropped (with its sessions) when the test ends.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& tag, std::string server = server_url()) {
    static std::atomic<int> counter{0};
    server_ = std::move(server);
    if (server_.empty()) {
      if (in_ci()) FAIL("no test PostgreSQL server (CI=true requires one): run the tests through ctest");
      throw std::runtime_error("no test PostgreSQL server: run through ctest or set LOCKSTEP_TEST_URL");
    }
    name_ = "ls_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    auto admin = connect_or_fail(server_);
    must(admin.query("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"));
    must(admin.query("CREATE DATABASE " + name_));
    url_ = url_for_database(server_, name_);
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase() {
    auto admin = Connection::open(server_);
    if (admin) (void)admin.value().query("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] Connection connect() const { return connect_or_fail(url_); }

  // First column of the first row, as text ("" for NULL or no rows).
  [[nodiscard]] std::string scalar(const std::string& sql) const {
    auto c = connect();
    auto rows = must(c.query(sql));
    return rows.empty() || !rows[0][0] ? std::string{} : *rows[0][0];
  }
  [[nodiscard]] long long number(const std::string& sql) const { return std::stoll(scalar(sql)); }
  // Runs `sql` (one or more statements) on a session of its own.
  void exec(const std::string& sql) const {
    auto c = connect();
    must(c.query(sql));
  }

 private:
  std::string server_;
  std::string name_;
  std::string url_;
};

}  // namespace lockstep::test
