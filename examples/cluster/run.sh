#!/usr/bin/env bash
# Starts the cluster example: three nodes on the Redis backplane and a round-robin
# proxy in front of them, without sticky sessions. From examples/:
#
#   cluster/run.sh          # then open http://127.0.0.1:8080 in two windows; Ctrl-C stops all
#
# The nodes listen on 127.0.0.1:8081, 8082 and 8083, the proxy on 127.0.0.1:8080.
# Environment: REDIS (default 127.0.0.1:6379), PREFIX (Redis key prefix, default
# hubbub-cluster-example), PROXY_ADDR and NODE_ADDRS (space-separated) to move them.
# Redis is only read and written under PREFIX; nothing is flushed.
set -euo pipefail
cd "$(dirname "$0")/.."

redis=${REDIS:-127.0.0.1:6379}
prefix=${PREFIX:-hubbub-cluster-example}
proxy_addr=${PROXY_ADDR:-127.0.0.1:8080}
read -r -a node_addrs <<< "${NODE_ADDRS:-127.0.0.1:8081 127.0.0.1:8082 127.0.0.1:8083}"

bin=$(mktemp -d)
pids=()
stop() {
  trap - INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$bin"
}
trap 'stop; exit 0' INT TERM
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/node" ./cluster
go build -o "$bin/proxy" ./cluster/proxy

backends=()
for i in "${!node_addrs[@]}"; do
  "$bin/node" -addr "${node_addrs[$i]}" -node "node$((i + 1))" -redis "$redis" -prefix "$prefix" &
  pids+=($!)
  backends+=("http://${node_addrs[$i]}")
done
"$bin/proxy" -addr "$proxy_addr" -backends "$(IFS=,; echo "${backends[*]}")" &
pids+=($!)

# Any process that ends (a port in use, a crash) ends the whole cluster.
wait -n "${pids[@]}" || true
echo "run.sh: a process ended; stopping the cluster" >&2
stop
exit 1
