# Finds lockstep's dependencies and normalises them to one target each:
#   libpqxx::pqxx   - from libpqxx's CMake config (Conan, vcpkg, source builds)
#                     or, where none exists (Debian's libpqxx-dev), pkg-config
#   Boost::headers  - Boost.Outcome is header-only
#   PostgreSQL::PostgreSQL - libpq itself: lockstep calls it directly for
#                     what libpqxx does not expose (libpq_adapter.hpp), and
#                     libpqxx's own CMake target keeps it private
#   Threads::Threads
include(GNUInstallDirs)
find_package(Threads REQUIRED)
if(NOT TARGET PostgreSQL::PostgreSQL)
  find_package(PostgreSQL REQUIRED)
endif()
find_package(Boost 1.74 REQUIRED)
if(NOT TARGET Boost::headers)
  add_library(Boost::headers INTERFACE IMPORTED)
  target_include_directories(Boost::headers INTERFACE ${Boost_INCLUDE_DIRS})
endif()

if(NOT TARGET libpqxx::pqxx)
  find_package(libpqxx CONFIG QUIET)
endif()
if(NOT TARGET libpqxx::pqxx)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(LOCKSTEP_LIBPQXX REQUIRED IMPORTED_TARGET libpqxx)
  add_library(libpqxx::pqxx INTERFACE IMPORTED)
  target_link_libraries(libpqxx::pqxx INTERFACE PkgConfig::LOCKSTEP_LIBPQXX)
endif()
