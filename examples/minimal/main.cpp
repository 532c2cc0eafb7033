// Migrator<> with its defaults: directory source, try-lock, backoff, 5 min deadline.
// [snippet:quickstart]
#include <cstdio>

#include <lockstep/lockstep.hpp>

int main(int argc, char** argv) {
  lockstep::Settings settings;  // URL from DATABASE_URL_MIGRATION, then DATABASE_URL
  settings.deploy_version = "2026.11.21-1";
  const char* dir = argc > 1 ? argv[1] : "db/migrations";
  // [snippet:run]
  auto report = lockstep::Migrator<>{settings, lockstep::DirectorySource{dir}}.run();
  if (!report) {
    std::fprintf(stderr, "%s\n", report.error().to_string().c_str());
    return 1;  // refuse to start on the wrong schema
  }
  // [/snippet:run]
  std::printf("schema %lld, role %s\n", static_cast<long long>(report.value().schema_version),
              lockstep::to_string(report.value().role).data());
  return 0;  // ... start serving here
}
// [/snippet:quickstart]
