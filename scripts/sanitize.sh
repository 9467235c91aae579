#!/usr/bin/env bash
# The sanitizer CI job: builds the parsers and the non-torch modules with ASan + UBSan in
# build-asan/ and runs their tests, the mutation fuzzer included, with a larger budget.
# (libtorch itself is not built with sanitizers, so the torch-heavy tests stay in the
# main job.) Usage: bash scripts/sanitize.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DSBENCH_ASAN_DIR:-build-asan}
TARGETS=(core_tests dsbench_config_test datasets_tests dsbench_fuzz_test metrics_detections_test)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSBENCH_SANITIZE=ON
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export DSBENCH_FUZZ_ITERATIONS=${DSBENCH_FUZZ_ITERATIONS:-5000}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -L 'fast|fuzz' "$@"
