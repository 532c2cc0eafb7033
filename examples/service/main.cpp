// An HTTP service that migrates on boot with lockstep and keeps its replica
// registered while it runs (docs/expand-contract.md).
//   /healthz  200 as soon as the process runs (liveness: never kill it for migrating)
//   /readyz   503 until the schema passed the gate, 200 while serving, 503 again
//             once shutting down or once the schema was contracted past this
//             image; the body is the state as JSON either way
//   /metrics  lockstep's metrics in Prometheus's text format (docs/events.md)
// If the migration fails, the process exits non-zero: it refuses to start on the
// wrong schema, and Kubernetes shows the error in its logs and restarts it.
// On SIGTERM it stops answering ready, withdraws from the replica registry (so
// a contract migration waiting for it can run now, not a lease later) and exits 0.
//   service [PORT] [MIGRATIONS_DIR]   (defaults: $PORT or 8080, $MIGRATIONS_DIR or migrations)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

#include <lockstep/lockstep.hpp>

namespace {

using Migrator = lockstep::Migrator<>;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// What /readyz answers, shared by main and the probe thread.
struct Readiness {
  std::mutex mutex;
  const char* phase = "migrating";  // migrating, serving, draining, incompatible
  long long schema_version = -1;
  const lockstep::Heartbeat<Migrator>* beat = nullptr;  // read under mutex; main clears it before stop()

  // 200 only while serving on a schema this image runs on.
  std::pair<bool, std::string> answer() {
    std::lock_guard lock{mutex};
    const auto state = beat != nullptr ? beat->state() : lockstep::HeartbeatState{};
    const bool ok = std::string_view{phase} == "serving" && state.compatible;
    std::string body = std::string{R"({"ready":)"} + (ok ? "true" : "false") + R"(,"phase":")" + phase +
                       R"(","schema_version":)" + std::to_string(schema_version);
    if (beat != nullptr) body += R"(,"heartbeat":)" + lockstep::to_json(state);
    return {ok, body + "}\n"};
  }
  void set(const char* p, const lockstep::Heartbeat<Migrator>* b) {
    std::lock_guard lock{mutex};
    phase = p;
    beat = b;
  }
};

// Never destroyed: the detached probe thread may answer until the process ends.
Readiness& readiness = *new Readiness;
lockstep::Metrics& metrics = *new lockstep::Metrics;

// Just enough HTTP/1.0 for probes.
void serve(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, env_or("LISTEN_ADDR", "0.0.0.0").c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    std::perror("service: cannot listen");
    std::_Exit(2);
  }
  for (;;) {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    char buf[1024] = {};
    const auto n = ::read(c, buf, sizeof buf - 1);
    const std::string request{buf, n > 0 ? static_cast<std::size_t>(n) : 0};
    std::string status = "404 Not Found", body, type = "application/json";
    if (request.rfind("GET /healthz", 0) == 0) {
      status = "200 OK";
    } else if (request.rfind("GET /readyz", 0) == 0) {
      auto [ok, json] = readiness.answer();
      status = ok ? "200 OK" : "503 Service Unavailable";
      body = std::move(json);
    } else if (request.rfind("GET /metrics", 0) == 0) {
      status = "200 OK";
      type = "text/plain; version=0.0.4";
      body = metrics.render();
    }
    const std::string response = "HTTP/1.0 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::write(c, response.data(), response.size());
    ::close(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int port = std::atoi(argc > 1 ? argv[1] : env_or("PORT", "8080").c_str());
  const std::string dir = argc > 2 ? argv[2] : env_or("MIGRATIONS_DIR", "migrations");

  // SIGTERM and SIGINT are taken by sigtimedwait below, in this thread only:
  // blocked here, before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread{serve, port}.detach();  // probes answer while we migrate

  lockstep::Settings settings;  // DATABASE_URL_MIGRATION (direct), MIGRATE_ON_BOOT, LOCKSTEP_DEPLOY_VERSION
  // [snippet:metrics]
  // The events still go to the log as JSON lines; /metrics counts and times them.
  settings.on_event = lockstep::tee(lockstep::stderr_sink(), metrics.sink());
  // [/snippet:metrics]
  Migrator migrator{settings, lockstep::DirectorySource{dir}};
  auto report = migrator.run();
  if (!report) {
    std::fprintf(stderr, "service: not starting: %s\n", report.error().to_string().c_str());
    return 1;
  }
  // [snippet:schema_change]
  // A migration changed row types while this replica serves (another
  // replica's contract, say): prepared statements returning those relations
  // fail with 0A000 until deallocated (docs/schema-changes.md). This service
  // prepares none; a pool would mark each idle connection to run
  // DEALLOCATE ALL before its next use. Called on the heartbeat thread.
  lockstep::HeartbeatOptions beat_options;
  beat_options.on_schema_change = [](const lockstep::SchemaChange& change) {
    std::fprintf(stderr, "service: migration %lld changed the row types of %zu relation(s)\n",
                 static_cast<long long>(change.version), change.relations.size());
  };
  // [/snippet:schema_change]
  // [snippet:heartbeat]
  // Register this replica and keep its lease alive while it serves: contract
  // migrations wait for replicas of older images, and a rollback image
  // refuses a schema contracted past it here, before it takes traffic.
  auto beat = migrator.heartbeat(report.value(), beat_options);
  if (!beat) {
    std::fprintf(stderr, "service: not starting: %s\n", beat.error().to_string().c_str());
    return 1;
  }
  // [/snippet:heartbeat]
  // [snippet:background]
  // Run the queued background migrations (backfills: docs/background.md) on a
  // thread of this replica while it serves; stopped before the heartbeat.
  auto runner = migrator.background();
  if (!runner) {
    std::fprintf(stderr, "service: not starting: %s\n", runner.error().to_string().c_str());
    return 1;
  }
  // [/snippet:background]
  {
    std::lock_guard lock{readiness.mutex};
    readiness.schema_version = static_cast<long long>(report.value().schema_version);
  }
  readiness.set("serving", &beat.value());
  std::fprintf(stderr, "service: ready on :%d (schema %lld)\n", port,
               static_cast<long long>(report.value().schema_version));

  // The application would now serve real traffic through DATABASE_URL (PgBouncer).
  const timespec second{1, 0};
  for (;;) {
    const int sig = sigtimedwait(&stop_signals, nullptr, &second);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (!beat.value().state().compatible) {
      // A contract migration this image lacks was applied while its lease
      // had lapsed: old code must not keep writing to the new schema.
      readiness.set("incompatible", nullptr);
      std::fprintf(stderr, "service: stopping: %s\n", beat.value().state().last_error.c_str());
      runner.value().stop();
      beat.value().stop();
      return 1;
    }
  }
  runner.value().stop();  // background work first: a batch in flight commits whole or rolls back
  // [snippet:shutdown]
  // Out of the load balancer first, then out of the registry: stop() withdraws
  // this replica, so a contract migration waiting for it can run now.
  readiness.set("draining", nullptr);
  beat.value().stop();
  // [/snippet:shutdown]
  std::fprintf(stderr, "service: stopped\n");
  return 0;
}
