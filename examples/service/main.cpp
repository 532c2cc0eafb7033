// An HTTP service that migrates on boot with lockstep.
//   /healthz  200 as soon as the process runs (liveness: never kill it for migrating)
//   /readyz   503 until the schema passed the gate, then 200 (readiness: no traffic before)
// If the migration fails, the process exits non-zero: it refuses to start on the
// wrong schema, and Kubernetes shows the error in its logs and restarts it.
//   service [PORT] [MIGRATIONS_DIR]   (defaults: $PORT or 8080, $MIGRATIONS_DIR or migrations)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <lockstep/lockstep.hpp>

namespace {

std::atomic<bool> ready{false};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

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
    const bool readyz = request.rfind("GET /readyz", 0) == 0;
    const bool healthz = request.rfind("GET /healthz", 0) == 0;
    const char* status = healthz || (readyz && ready) ? "200 OK" : readyz ? "503 Service Unavailable" : "404 Not Found";
    const std::string response = std::string{"HTTP/1.0 "} + status + "\r\nContent-Length: 0\r\n\r\n";
    (void)::write(c, response.data(), response.size());
    ::close(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int port = std::atoi(argc > 1 ? argv[1] : env_or("PORT", "8080").c_str());
  const std::string dir = argc > 2 ? argv[2] : env_or("MIGRATIONS_DIR", "migrations");
  std::thread{serve, port}.detach();  // probes answer while we migrate

  lockstep::Settings settings;  // DATABASE_URL_MIGRATION (direct), MIGRATE_ON_BOOT, LOCKSTEP_DEPLOY_VERSION
  auto report = lockstep::Migrator<>{settings, lockstep::DirectorySource{dir}}.run();
  if (!report) {
    std::fprintf(stderr, "service: not starting: %s\n", report.error().to_string().c_str());
    return 1;
  }
  ready = true;
  std::fprintf(stderr, "service: ready on :%d (schema %lld)\n", port,
               static_cast<long long>(report.value().schema_version));
  // The application would now serve real traffic through DATABASE_URL (PgBouncer).
  for (;;) ::pause();
}
