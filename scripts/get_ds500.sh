#!/usr/bin/env bash
# Fetches the DS-500 benchmark (the DS-500/ folder of github.com/hehuiguo/DreamStory)
# into TARGET, unchanged, for `dataset.root` / DS500_ROOT:
#
#   bash scripts/get_ds500.sh ~/data/ds500
#   DS500_ROOT=~/data/ds500 dsbench run --config configs/ds500.yaml
#
# Options (environment):
#   DS500_REF       commit, tag or branch to fetch (default: the commit dsbench was
#                   developed against; set DS500_REF=main for the newest)
#   DS500_REPO_URL  repository URL (default https://github.com/hehuiguo/DreamStory.git)
#
# Uses a sparse, blob-filtered git checkout so only DS-500/ is downloaded; falls back to
# the GitHub tarball (curl + tar) when git cannot do a partial clone.
set -euo pipefail

readonly DEFAULT_REF=91e1a4b2ae138e60e9b7d8f4a7178ed7b19eb9f9
REF="${DS500_REF:-$DEFAULT_REF}"
REPO_URL="${DS500_REPO_URL:-https://github.com/hehuiguo/DreamStory.git}"

usage() {
  echo "usage: $0 TARGET_DIR   (fetches DS-500 into TARGET_DIR; see the header of this script)" >&2
  exit 2
}
(($# == 1)) || usage
[[ "$1" != -h && "$1" != --help ]] || usage
TARGET="$1"

licence_caveat() {
  cat >&2 <<'TEXT'
NOTE: the DreamStory repository states no licence for DS-500, and some of the
Real-Stories-100 texts are not in the public domain. Use the data for research and
evaluation only, do not redistribute it, and do not commit it to this repository.
For a freely licensed sample in the same schema see datasets/ds500-sample/ (CC0).
TEXT
}

if [[ -e "$TARGET" && -n "$(ls -A "$TARGET" 2>/dev/null)" ]]; then
  if [[ -d "$TARGET/Synthetic-Cases-400" || -d "$TARGET/Real-Stories-100" ]]; then
    echo "get_ds500: $TARGET already holds a DS-500 release; remove it to fetch again" >&2
    licence_caveat
    exit 0
  fi
  echo "get_ds500: $TARGET exists and is not empty; expected a new or empty directory" >&2
  exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fetch_with_git() {
  command -v git >/dev/null || return 1
  git -C "$WORK" init -q repo &&
    git -C "$WORK/repo" remote add origin "$REPO_URL" &&
    git -C "$WORK/repo" config core.sparseCheckout true &&
    echo "DS-500/" > "$WORK/repo/.git/info/sparse-checkout" &&
    git -C "$WORK/repo" fetch -q --depth 1 --filter=blob:none origin "$REF" &&
    git -C "$WORK/repo" checkout -q FETCH_HEAD &&
    [[ -d "$WORK/repo/DS-500" ]] &&
    mv "$WORK/repo/DS-500" "$WORK/DS-500"
}

fetch_with_tarball() {
  command -v curl >/dev/null || return 1
  local base="${REPO_URL%.git}"
  base="${base/github.com/codeload.github.com}"
  curl -fsSL "$base/tar.gz/$REF" -o "$WORK/release.tar.gz" &&
    mkdir -p "$WORK/tar" &&
    tar -xzf "$WORK/release.tar.gz" -C "$WORK/tar" --wildcards '*/DS-500/*' &&
    mv "$WORK"/tar/*/DS-500 "$WORK/DS-500"
}

echo "get_ds500: fetching DS-500 from $REPO_URL at $REF" >&2
if ! fetch_with_git; then
  echo "get_ds500: sparse git checkout failed; trying the tarball" >&2
  rm -rf "$WORK/repo" "$WORK/DS-500"
  if ! fetch_with_tarball; then
    echo "get_ds500: could not fetch DS-500 (no network, or ref '$REF' not found)" >&2
    exit 1
  fi
fi

mkdir -p "$(dirname "$TARGET")"
rm -rf "$TARGET"
mv "$WORK/DS-500" "$TARGET"

synthetic=$(find "$TARGET/Synthetic-Cases-400" -maxdepth 1 -name '*_meta.json' 2>/dev/null | wc -l)
stories=$(find "$TARGET/Real-Stories-100" -maxdepth 1 -name '*.txt' 2>/dev/null | wc -l)
echo "get_ds500: $TARGET: $synthetic synthetic case files, $stories story files" >&2
if [[ "$REF" == "$DEFAULT_REF" && ($synthetic -ne 4 || $stories -ne 202) ]]; then
  echo "get_ds500: expected 4 synthetic files and 202 stories at $DEFAULT_REF" >&2
  exit 1
fi
echo "get_ds500: check it with: dsbench validate --dataset $TARGET" >&2
licence_caveat
