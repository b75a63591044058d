#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time, one
#   go test -run='^$' -fuzz='^Name$' -fuzztime=$FUZZTIME <package>
# per target, and exits non-zero if any target fails (a crasher, a build failure,
# or a package whose tests cannot even be listed).
#
# Targets are discovered with `go test -list '^Fuzz'`, so new Fuzz functions in any
# package are picked up without editing this script.
#
#   FUZZTIME=10s scripts/fuzz-short.sh            # every package (default 10s each)
#   FUZZTIME=2m  scripts/fuzz-short.sh ./hub/...  # only some packages
#
# FUZZMINIMIZETIME (default 5s) caps how long the fuzzer minimizes each new
# corpus entry; Go's default of 60s can eat a whole short run on a busy machine.
#
# A failing target leaves its crasher in <package>/testdata/fuzz/<Name>/; commit it
# with the fix so that plain `go test` replays it from then on.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
minimizetime="${FUZZMINIMIZETIME:-5s}"
if [ "$#" -eq 0 ]; then
  set -- ./...
fi

# `go test -list` prints each package's matching names followed by its
# "ok <import path>" line; pair them up as "<import path> <Name>".
list_out=$(go test -run='^$' -list '^Fuzz' "$@" 2>&1)
list_rc=$?
targets=$(printf '%s\n' "$list_out" | awk '
  /^Fuzz[A-Za-z0-9_]*$/ { names[n++] = $1; next }
  $1 == "ok" { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
  { n = 0 }
')

failed=()
if [ "$list_rc" -ne 0 ]; then
  printf '%s\n' "$list_out" | grep -v '^Fuzz' >&2
  echo "fuzz-short: listing fuzz targets failed (exit $list_rc)" >&2
  failed+=("go test -list")
fi

if [ -z "$targets" ]; then
  echo "fuzz-short: no fuzz targets found in $*"
else
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  while read -r pkg name; do
    for attempt in 1 2; do
      echo "==> $pkg $name (-fuzztime=$fuzztime)"
      if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimizetime" "$pkg" 2>&1 | tee "$out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        break
      fi
      # Go's fuzzer can report "context deadline exceeded" when -fuzztime ends while
      # a worker is still minimizing a new corpus entry: no input failed, so run the
      # target once more. A real failure writes its input and fails again.
      if [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written to' "$out"; then
        echo "fuzz-short: $name hit the fuzzer's end-of-run deadline error; running it again"
        continue
      fi
      failed+=("$pkg $name")
      break
    done
  done <<<"$targets"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-short: FAILED:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz-short: all fuzz targets passed"
