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

# Each way is configured and built in the background, all at once (each is
# one file, so one compiler each: they share the cores instead of queueing),
# unoptimised and without debug info: they test the packaging, not the code,
# and the Release build of the suite already compiled it at -O3. Then each
# build runs, one after the other, against its own database.
build_one() {
  local name=$1; shift
  cmake -S "$src/tests/consumer" -B "$work/$name" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    "${same_deps[@]}" "$@" >"$work/$name.log" 2>&1 || { echo "consumer[$name]: configure failed" >>"$work/$name.log"; return 1; }
  cmake --build "$work/$name" >>"$work/$name.log" 2>&1 || { echo "consumer[$name]: build failed" >>"$work/$name.log"; return 1; }
}
build_test_package() {
  # The Conan test_package, built the way `conan create` would, but against the installed tree.
  if ! cmake -S "$src/test_package" -B "$work/test_package" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    "${same_deps[@]}" -DCMAKE_PREFIX_PATH="$work/prefix${same_deps_prefix:+;$same_deps_prefix}" >"$work/test_package.log" 2>&1 ||
    ! cmake --build "$work/test_package" >>"$work/test_package.log" 2>&1; then
    echo "test_package: build failed" >>"$work/test_package.log"
    return 1
  fi
}
declare -A building=()
build_one installed -DLOCKSTEP_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/prefix${same_deps_prefix:+;$same_deps_prefix}" &
building[installed]=$!
build_one build_tree -DLOCKSTEP_CONSUME=find_package -Dlockstep_DIR="$build" &
building[build_tree]=$!
build_one subdirectory -DLOCKSTEP_CONSUME=add_subdirectory -DLOCKSTEP_SOURCE="$src" &
building[subdirectory]=$!
build_one fetchcontent -DLOCKSTEP_CONSUME=FetchContent -DLOCKSTEP_SOURCE="$src" &
building[fetchcontent]=$!
build_test_package &
building[test_package]=$!
failed=0
for name in "${!building[@]}"; do
  wait "${building[$name]}" || { cat "$work/$name.log"; failed=1; }
done
[[ $failed == 0 ]] || exit 1

run_one() {
  local name=$1
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
for name in installed build_tree subdirectory fetchcontent; do run_one "$name"; done
"$work/test_package/test_package"
echo "test_package: ok"
