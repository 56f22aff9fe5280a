#!/usr/bin/env bash
# The strategy-gates CI, runnable locally: `make gates BASE=origin/main`.
# Reproduces the data (DVC), researches the strategies a change since BASE affects, and fails
# when any of their new versions fails its gates (gates.yaml) or a research check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE="${1:-origin/main}"
BIN=.venv/bin
PATH="$PWD/$BIN:$PATH" "$BIN/dvc" repro
mapfile -t affected < <("$BIN/stratops" research affected --base "$BASE")
if [ "${#affected[@]}" -eq 0 ]; then
  echo "no strategy affected by changes since $BASE: nothing to gate"
  exit 0
fi
args=()
for name in "${affected[@]}"; do args+=(--strategy "$name"); done
echo "gating: ${affected[*]}"
"$BIN/stratops" research run "${args[@]}" --fail-on-gate
