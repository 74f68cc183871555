#!/usr/bin/env bash
# Coverage of a simulator sweep (docs/testing.md, "Coverage of a sweep").
#
#   scripts/simcov.sh [SEEDS] [OUTDIR] [-- extra ciphermq sim flags]
#
# Builds ciphermq with Go's coverage instrumentation of the core packages,
# runs `ciphermq sim --seeds SEEDS` (default 1..2000, the CI sweep) with
# GOCOVERDIR, runs the same packages' own unit tests with -coverprofile
# (set SIMCOV_UNIT=0 to skip them), and prints per package the share of
# statements the sweep reached and every function holding statements it
# never reached, marked with whether a unit test reaches them instead.
# Everything lands in OUTDIR (default .scratch-simcov): sweep.txt and
# unit.txt (text profiles), report.txt (the summary) and list.txt (the
# never-reached blocks with their positions).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-1..2000}
out=${2:-.scratch-simcov}
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
pkgs=./broker,./broker/wal,./broker/protocol,./clients/engine,./clients/receiver,./clients/inbox
# The main package must be instrumented too: without it the binary writes
# no coverage data at exit.
coverpkg=$pkgs,./cmd/ciphermq
rm -rf "$out" && mkdir -p "$out/covdata"
go build -cover -covermode=set -coverpkg="$coverpkg" -o "$out/ciphermq-cover" ./cmd/ciphermq
status=0
GOCOVERDIR="$out/covdata" "$out/ciphermq-cover" sim --seeds "$seeds" --progress=false "$@" >"$out/sweep.log" || status=$?
tail -n 3 "$out/sweep.log"
go tool covdata percent -i="$out/covdata" >"$out/percent.txt"
go tool covdata textfmt -i="$out/covdata" -o "$out/sweep.txt"
unit=()
if [ "${SIMCOV_UNIT:-1}" != 0 ]; then
  go test -count=1 -covermode=set -coverprofile="$out/unit.txt" ./broker ./broker/wal ./broker/protocol \
    ./clients/engine ./clients/receiver ./clients/inbox >"$out/unit.log"
  unit=(--unit "$out/unit.txt")
fi
go run ./scripts/simcov --sweep "$out/sweep.txt" "${unit[@]}" | tee "$out/report.txt"
go run ./scripts/simcov --sweep "$out/sweep.txt" "${unit[@]}" --list >"$out/list.txt"
echo "sweep exit status $status; files in $out"
exit $status
