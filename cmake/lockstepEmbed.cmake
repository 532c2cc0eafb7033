# lockstep_embed_migrations(<target> DIRECTORY <dir> [NAMESPACE <ns>] [HEADER <file>])
#
# Generates <file> (default: <target>_migrations.hpp) from <dir>/<version>_<name>.sql
# at build time and adds it to <target>'s include path. The header defines
#   <ns>::migrations  (std::array<lockstep::EmbeddedMigration, N>, version order)
#   <ns>::source()    (a lockstep::EmbeddedSource over them)
# <ns> defaults to <target>_migrations. A bad file name or a duplicate version
# fails the build, naming the files.
function(lockstep_embed_migrations target)
  # Where this file lives, whichever directory scope calls the function
  # (add_subdirectory, FetchContent, an installed package).
  set(generator "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/lockstepEmbedGenerate.cmake")
  cmake_parse_arguments(ARG "" "DIRECTORY;NAMESPACE;HEADER" "" ${ARGN})
  if(NOT ARG_DIRECTORY)
    message(FATAL_ERROR "lockstep_embed_migrations(${target}): DIRECTORY is required")
  endif()
  get_filename_component(dir "${ARG_DIRECTORY}" ABSOLUTE)
  if(NOT ARG_NAMESPACE)
    set(ARG_NAMESPACE "${target}_migrations")
  endif()
  if(NOT ARG_HEADER)
    set(ARG_HEADER "${target}_migrations.hpp")
  endif()
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/lockstep_embedded/${target}")
  set(out "${out_dir}/${ARG_HEADER}")
  # CONFIGURE_DEPENDS: adding or removing a file re-runs the glob at build time.
  file(GLOB files CONFIGURE_DEPENDS "${dir}/*.sql")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${CMAKE_COMMAND}" "-DLOCKSTEP_DIR=${dir}" "-DLOCKSTEP_OUT=${out}"
            "-DLOCKSTEP_NAMESPACE=${ARG_NAMESPACE}" -P "${generator}"
    DEPENDS ${files} "${generator}"
    COMMENT "lockstep: embedding migrations from ${dir}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
  target_include_directories(${target} PRIVATE "${out_dir}")
endfunction()
