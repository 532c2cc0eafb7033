// Migrations compiled into the binary: the image ships no .sql files.
// CMakeLists.txt: lockstep_embed_migrations(embedded_example DIRECTORY migrations
//                                           NAMESPACE app_migrations HEADER app_migrations.hpp)
#include <cstdio>

#include <lockstep/lockstep.hpp>

#include "app_migrations.hpp"  // generated at build time

int main() {
  lockstep::Settings settings;  // DATABASE_URL_MIGRATION, then DATABASE_URL
  settings.on_event = lockstep::stdout_sink();

  // [snippet:embedded]
  using Migrator = lockstep::Migrator<lockstep::TryLock, lockstep::NotifyBackoff, lockstep::Deadline<>,
                                      lockstep::EmbeddedSource>;
  auto report = Migrator{settings, app_migrations::source()}.run();
  // [/snippet:embedded]
  if (!report) {
    std::fprintf(stderr, "%s\n", report.error().to_string().c_str());
    return 1;
  }
  std::printf("schema at version %lld with %zu embedded migrations\n",
              static_cast<long long>(report.value().schema_version), app_migrations::migrations.size());
  return 0;
}
