#!/usr/bin/env bash
# Builds tests/consumer against lockstep four ways and runs each build against
# its own fresh database on the test server:
#   installed tree (cmake --install), build tree, add_subdirectory, FetchContent.
#   run.sh SOURCE_DIR BUILD_DIR SERVER_URL_FILE
set -euo pipefail
src=$1 build=$2 url_file=$3
server=$(cat "$url_file")
work=$(mktemp -d /tmp/lockstep-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/share/cmake/lockstep/lockstepConfig.cmake"
test -f "$work/prefix/share/cmake/lockstep/lockstepConfigVersion.cmake"
test -f "$work/prefix/include/lockstep/lockstep.hpp"

check() {
  local name=$1; shift
  cmake -S "$src/tests/consumer" -B "$work/$name" -DCMAKE_BUILD_TYPE=Release "$@" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log"; echo "consumer[$name]: configure failed"; exit 1; }
  cmake --build "$work/$name" -j 2 >>"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log"; echo "consumer[$name]: build failed"; exit 1; }
  local db="lockstep_consumer_${name}_$$"
  psql -X -q -d "$server" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  DATABASE_URL_MIGRATION="${server%/*}/$db" "$work/$name/consumer"
  psql -X -q -d "$server" -c "DROP DATABASE $db WITH (FORCE)"
  echo "consumer[$name]: ok"
}
check installed -DLOCKSTEP_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/prefix"
check build_tree -DLOCKSTEP_CONSUME=find_package -Dlockstep_DIR="$build"
check subdirectory -DLOCKSTEP_CONSUME=add_subdirectory -DLOCKSTEP_SOURCE="$src"
check fetchcontent -DLOCKSTEP_CONSUME=FetchContent -DLOCKSTEP_SOURCE="$src"

# The Conan test_package, built the way `conan create` would, but against the installed tree.
cmake -S "$src/test_package" -B "$work/test_package" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/tp.log" 2>&1 &&
  cmake --build "$work/test_package" >>"$work/tp.log" 2>&1 || { cat "$work/tp.log"; echo "test_package: build failed"; exit 1; }
"$work/test_package/test_package"
echo "test_package: ok"
