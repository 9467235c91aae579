#!/usr/bin/env bash
# Runs the whole test suite with ctest. Extra arguments go to ctest (e.g. -L fast, -R Tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DSBENCH_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
