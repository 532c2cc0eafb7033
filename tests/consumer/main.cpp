// Consumer smoke test: migrate the database in DATABASE_URL_MIGRATION.
#include <cstdio>

#include <lockstep/lockstep.hpp>

#include "consumer_migrations.hpp"

int main() {
  lockstep::Settings settings;
  settings.on_event = lockstep::null_sink();
  auto report = lockstep::Migrator<lockstep::TryLock, lockstep::ExponentialBackoff, lockstep::Deadline<>,
                                   lockstep::EmbeddedSource>{settings, consumer_migrations::source()}
                    .run();
  if (!report) {
    std::fprintf(stderr, "%s\n", report.error().to_string().c_str());
    return 1;
  }
  std::printf("consumer: schema at version %lld\n", static_cast<long long>(report.value().schema_version));
  // run.sh compares this with the build it consumes: same libpqxx and Boost.
  std::printf("consumer: built with %s\n", lockstep::built_with().c_str());
  return report.value().schema_version == 1 ? 0 : 1;
}
