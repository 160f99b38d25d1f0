#!/usr/bin/env bash
# A local cluster: one redis-server (append-only file on) and three `huddle serve --redis` nodes,
# all in the foreground; Ctrl-C stops everything. Data in ./cluster-data (or $HUDDLE_CLUSTER_DIR).
#   bash scripts/cluster.sh            ports: Redis 6390, nodes 1234 1235 1236
#   REDIS_PORT=7000 PORTS="4000 4001 4002" bash scripts/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${HUDDLE_CLUSTER_DIR:-./cluster-data}
redis_port=${REDIS_PORT:-6390}
ports=${PORTS:-1234 1235 1236}
command -v redis-server >/dev/null || { echo "redis-server is not installed: apt-get install redis-server" >&2; exit 1; }
[ -f dist/server/cli.js ] || { echo "not built yet: run npm install first" >&2; exit 1; }
mkdir -p "$dir/redis"
# Every node must share the secret; keep one in the cluster directory unless HUDDLE_SECRET is set.
if [ -z "${HUDDLE_SECRET:-}" ]; then
  [ -f "$dir/secret" ] || (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$dir/secret")
  HUDDLE_SECRET=$(cat "$dir/secret")
fi
export HUDDLE_SECRET

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --save '' >"$dir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q 'Ready to accept connections' "$dir/redis.log" && break; sleep 0.1; done
grep -q 'Ready to accept connections' "$dir/redis.log" || { cat "$dir/redis.log"; echo "redis-server did not start" >&2; exit 1; }

n=0
for port in $ports; do
  n=$((n + 1))
  mkdir -p "$dir/node$n"
  node bin/huddle.js serve --port "$port" --data "$dir/node$n" --redis "redis://127.0.0.1:$redis_port" --node-id "node$n" > >(sed -u "s/^/[node$n] /") 2>&1 &
  pids+=($!)
done

sleep 1
token=$(node bin/huddle.js token --actor admin --workspace demo --role admin)
echo
echo "cluster up: Redis on 127.0.0.1:$redis_port, nodes on ports $ports (Ctrl-C stops all)"
echo "admin token for workspace \"demo\": $token"
echo "status:  node bin/huddle.js cluster status --redis redis://127.0.0.1:$redis_port"
wait
