#!/usr/bin/env bash
# Dispatch benchmark: how many seeds per second one controller and one nats-server hand out and account for, when
# the runs themselves cost nothing (a scenario every worker skips at once). Starts its own nats-server -js on a free
# port with a temporary store; prints one line per (workers, seeds per job) with seeds/s and the controller's CPU.
#
#   bench/dispatch.sh [SEEDS] [WORKERS...]        e.g. bench/dispatch.sh 10000 1 2 4
#   SEEDS_PER_JOB="1 100" bench/dispatch.sh        message sizes to compare (default "1 100")
#
# Needs a release build (cargo build --release) and nats-server on PATH (Debian: nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-10000}
shift || true
workers_list=${*:-"1 2"}
per_job_list=${SEEDS_PER_JOB:-"1 100"}
sfko=${SFKO:-target/release/sfko}
[ -x "$sfko" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "nats-server is not on PATH (apt-get install nats-server)" >&2; exit 2; }

work=$(mktemp -d)
[ -n "${KEEP_WORK:-}" ] && echo "work dir: $work" >&2
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
url="nats://127.0.0.1:$port"
# A scenario no embedded target can run (it needs replication): each job resolves its plan and is skipped.
cat >"$work/skip.yaml" <<'YAML'
- name: skipped
  required:
    buckets:
      - replication: true
  objects: {count: 1, size: 0B}
  tests: [put-replication]
  checks: [check-replication]
YAML

printf '%-8s %-14s %-10s %-10s %-14s %s\n' workers seeds/job seeds seconds seeds/s "controller CPU"
for n in $workers_list; do
  for k in $per_job_list; do
    wpids=()
    for i in $(seq "$n"); do
      "$sfko" -w --nats "$url" --worker-id "bench-$i" -q --journal-dir "$work/journals" >"$work/w$i.log" 2>&1 &
      wpids+=($!)
    done
    sleep 1
    per_job=()
    [ "$k" = 1 ] || per_job=(--seeds-per-job "$k")
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$work/cpu" "$sfko" -c --nats "$url" -q --format json --scenarios-path "$work/skip.yaml" \
      --seed 1 --runs "$seeds" "${per_job[@]}" >"$work/summary.json" 2>"$work/controller.log" || true
    end=$(date +%s.%N)
    for p in "${wpids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${wpids[@]}" 2>/dev/null || true
    python3 - "$work/summary.json" "$work/cpu" "$n" "$k" "$start" "$end" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
user, system = map(float, open(sys.argv[2]).read().split()[-2:])
n, k, start, end = sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
accounted = doc["jobs_done"] + doc.get("jobs_lost", 0)
seconds = end - start
print(f"{n:<8} {k:<14} {accounted:<10} {seconds:<10.2f} {accounted / seconds:<14,.0f} {user + system:.2f} s")
PY
  done
done
