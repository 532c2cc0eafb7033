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
# The program and the schemas of its output come with the package.
"$work/prefix/bin/lockstep" version | grep -q '^lockstep ' || { echo "consumer: no installed lockstep program"; exit 1; }
for s in events status; do
  cmp "$src/docs/schema/$s.schema.json" "$work/prefix/share/lockstep/schema/$s.schema.json"
done

# The consumer resolves its dependencies the way the consumed build did
# (same prefix path, compiler and flags), and proves it: it must report the
# same libpqxx and Boost as the build's own lockstep program.
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1; }
same_deps=()
same_deps_prefix=$(cache_value CMAKE_PREFIX_PATH)
for var in CMAKE_PREFIX_PATH CMAKE_CXX_COMPILER CMAKE_CXX_FLAGS CMAKE_EXE_LINKER_FLAGS Boost_INCLUDE_DIR BOOST_ROOT; do
  value=$(cache_value "$var")
  [[ -n "$value" ]] && same_deps+=("-D$var=$value")
done
expected=$("$build/examples/lockstep" version | sed -n 's/^lockstep [^ ]* (\(.*\))$/\1/p')
echo "consumer: the build under test runs with $expected"
[[ -n "$expected" ]] || { echo "consumer: cannot read the build's dependency versions"; exit 1; }

check() {
  local name=$1; shift
  cmake -S "$src/tests/consumer" -B "$work/$name" -DCMAKE_BUILD_TYPE=Release "${same_deps[@]}" "$@" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log"; echo "consumer[$name]: configure failed"; exit 1; }
  cmake --build "$work/$name" -j 2 >>"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log"; echo "consumer[$name]: build failed"; exit 1; }
  local db="lockstep_consumer_${name}_$$"
  psql -X -q -d "$server" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  local out
  out=$(DATABASE_URL_MIGRATION="${server%/*}/$db" "$work/$name/consumer") || { echo "$out"; exit 1; }
  echo "$out"
  grep -qxF "consumer: built with $expected" <<<"$out" ||
    { echo "consumer[$name]: built against other dependencies than the build it consumes ($expected)"; exit 1; }
  psql -X -q -d "$server" -c "DROP DATABASE $db WITH (FORCE)"
  echo "consumer[$name]: ok"
}
check installed -DLOCKSTEP_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/prefix${same_deps_prefix:+;$same_deps_prefix}"
check build_tree -DLOCKSTEP_CONSUME=find_package -Dlockstep_DIR="$build"
check subdirectory -DLOCKSTEP_CONSUME=add_subdirectory -DLOCKSTEP_SOURCE="$src"
check fetchcontent -DLOCKSTEP_CONSUME=FetchContent -DLOCKSTEP_SOURCE="$src"

# The Conan test_package, built the way `conan create` would, but against the installed tree.
cmake -S "$src/test_package" -B "$work/test_package" "${same_deps[@]}" -DCMAKE_PREFIX_PATH="$work/prefix${same_deps_prefix:+;$same_deps_prefix}" >"$work/tp.log" 2>&1 &&
  cmake --build "$work/test_package" >>"$work/tp.log" 2>&1 || { cat "$work/tp.log"; echo "test_package: build failed"; exit 1; }
"$work/test_package/test_package"
echo "test_package: ok"
