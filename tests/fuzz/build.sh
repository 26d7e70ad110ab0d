#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cc) with clang, ASan and UBSan, apart from the
# main g++ build, into $BUILD_FUZZ (default build-fuzz/ at the repo root). Needs clang-14 and
# libclang-rt-14-dev (dist/install-deps --fuzz). See doc/fuzzing.md.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUILD_FUZZ:-$root/build-fuzz}

cmake -S "$root/tests/fuzz" -B "$out" -DCMAKE_BUILD_TYPE=None \
	-DCMAKE_C_COMPILER="${CC_FUZZ:-clang-14}" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++-14}" \
	>/dev/null
cmake --build "$out" -j "${JOBS:-$(nproc)}"
