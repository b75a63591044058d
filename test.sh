#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Debian's chromium, the npm packages), then the Go tests with -race, short fuzz
# runs, the official @microsoft/signalr client suite and the bundled JS client's
# unit and browser tests. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "installing what the tests need"
if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { $sudo_cmd apt-get update -qq && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
fi
for dir in testdata/official clientjs testdata/demo; do
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

step "go vet"
go vet ./...
# cmd/hubbench and examples are modules of their own (so that centrifuge, Gin's
# CORS package and the like stay out of users' module graphs): ./... from the root
# does not reach them.
(cd cmd/hubbench && go vet ./...)
(cd examples && go vet ./...)

step "go test -race"
go test -race -count=1 ./...
(cd cmd/hubbench && go test -race -count=1 ./...)
(cd examples && go test -race -count=1 ./...)

step "fuzz targets (${FUZZTIME:-5s} each)"
FUZZTIME="${FUZZTIME:-5s}" scripts/fuzz-short.sh

# One server binary for every Node suite.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/hubbub" ./cmd/hubbub
go build -o "$bin_dir/linkcut" ./internal/linkcut/cmd/linkcut
export HUBBUB_BIN="$bin_dir/hubbub" LINKCUT_BIN="$bin_dir/linkcut"

step "official @microsoft/signalr client against cmd/hubbub"
(cd testdata/official && npm test)

step "official @microsoft/signalr client against 3 nodes on Redis behind a round-robin proxy (no sticky sessions)"
go build -o "$bin_dir/clusterdemo" ./internal/clusterdemo
(cd testdata/official && HUBBUB_BIN="$bin_dir/clusterdemo" npm test)

# The same binary on the NATS backplane: the 219 tests took 28 s on NATS and 26 s on
# Redis on a loaded machine, 19 s and 16 s on a quieter one.
step "official @microsoft/signalr client against 3 nodes on NATS behind a round-robin proxy (no sticky sessions)"
(cd testdata/official && HUBBUB_NATS_URL="${HUBBUB_NATS_URL:-nats://127.0.0.1:4222}" HUBBUB_BIN="$bin_dir/clusterdemo" npm test)
step "bundled JS client: unit tests, build check, size budget"
(cd clientjs && npm test)
step "bundled JS client: browser and hostile-proxy tests in chromium"
(cd clientjs && npm run test:browser)
step "chat and news demos in chromium, on each transport; the admin dashboard"
(cd testdata/demo && npm test)

step "all tests passed"
