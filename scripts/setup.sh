#!/usr/bin/env bash
# Installs every Debian package dsbench needs, then configures and builds build/.
# Idempotent: packages already present are not fetched again; the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  cmake ninja-build g++ pkg-config git
  # libraries the project links
  libtorch-dev libopencv-dev libeigen3-dev nlohmann-json3-dev libbenchmark-dev
  libsqlite3-dev libboost-program-options-dev libgtest-dev libgmock-dev libyaml-cpp-dev
  libcpp-httplib-dev libssl-dev libspdlog-dev libfmt-dev zlib1g-dev libicu-dev libpqxx-dev
  # libtorch falls back to reference BLAS, ~30x slower, without an optimised one
  libopenblas0-openmp
  # golden-value fixtures and reference benchmarks (python3-torch), store inspection
  python3 python3-torch python3-torchvision python3-numpy sqlite3
  # the report's browser test
  chromium
  # PostgreSQL run stores: the tests start a throwaway server
  postgresql
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
fi

BUILD_DIR=${DSBENCH_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${DSBENCH_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: built $BUILD_DIR/dsbench"
