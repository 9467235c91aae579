#!/usr/bin/env bash
# The nightly regression gate: runs configs/nightly.yaml as a new run, compares it with
# the last successful nightly in the same store, writes the report and returns the
# compare exit code (0 no regression, 3 regression; 1/2 when the run itself failed).
#   bash scripts/nightly.sh [extra --set overrides for dsbench run...]
set -euo pipefail
cd "$(dirname "$0")/.."
DSBENCH=${DSBENCH:-build/dsbench}
CONFIG=${NIGHTLY_CONFIG:-configs/nightly.yaml}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# Each night is its own run: the description carries the date, which changes the config
# hash, so the store never resumes yesterday's run.
"$DSBENCH" run --config "$CONFIG" --set "description=nightly $STAMP" --no-progress "$@"

runs_json=$("$DSBENCH" runs --config "$CONFIG" --json --limit 0)
read -r candidate baseline < <(python3 - "$runs_json" <<'PY'
import json, sys
runs = [r for r in json.loads(sys.argv[1]) if r["name"] == "nightly"]
finished = [r for r in runs if r["status"] == "finished"]
candidate = finished[0]["id"] if finished else ""
older = [r["id"] for r in finished[1:]]
print(candidate, older[0] if older else "")
PY
)
if [[ -z "$candidate" ]]; then echo "nightly: the run did not finish" >&2; exit 1; fi
"$DSBENCH" report "$candidate" --config "$CONFIG"
if [[ -z "$baseline" ]]; then
  echo "nightly: run $candidate is the first successful nightly; nothing to compare with"
  exit 0
fi
set +e
"$DSBENCH" compare "$baseline" "$candidate" --config "$CONFIG"
status=$?
set -e
echo "nightly: compare exit code $status (baseline run $baseline, candidate run $candidate)"
exit $status
