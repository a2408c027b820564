#!/usr/bin/env bash
# Peers benchmark: sfko against rclone and boto3 on the same workloads, in the same run, against the same
# `sfko serve` on this machine. Each client writes every object, then reads every object back and verifies its bytes.
# Prints one markdown table: obj/s, MiB/s and client CPU per object for every (workload, client), with the ratio of
# each client's obj/s to sfko's.
#
#   bench/peers.sh [--out FILE]          also write the table to FILE
#   REPS=3 bench/peers.sh                three repetitions, medians reported (default 1)
#   CLIENTS="sfko rclone" bench/peers.sh which clients (default: sfko rclone boto3 boto3x16; also sfko-nojournal:
#                                        sfko journaling no ops, for the cost of the journal)
#   WORKLOADS="small:2000:4K" bench/peers.sh   name:count:size list (default: 2000 × 4K, 200 × 1M, 20 × 16M)
#   CONCURRENCY=16                       requests in flight for sfko, rclone and boto3x16 (boto3 is sequential)
#   KEYS=sfko                            peers' keys shaped like sfko's (xxxx/obj-N, one prefix each) instead of flat
#
# Needs a release build (cargo build --release). Installs rclone (apt-get) and boto3 (pip) when they are missing.
set -euo pipefail

out=""
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
# --out is relative to where the script was started, not to the repo root it moves to.
case $out in '' | /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."
reps=${REPS:-1}
conc=${CONCURRENCY:-16}
clients=${CLIENTS:-"sfko rclone boto3 boto3x16"}
workloads=${WORKLOADS:-"small:2000:4K medium:200:1M large:20:16M"}
keys=${KEYS:-flat}
case $keys in flat | sfko) ;; *) echo "KEYS is flat or sfko, not $keys" >&2; exit 2 ;; esac
sfko=${SFKO:-target/release/sfko}
[ -x "$sfko" ] || { echo "build first: cargo build --release" >&2; exit 2; }
# Absolute, so it still names the binary from inside the work dir.
sfko=$(cd "$(dirname "$sfko")" && pwd)/$(basename "$sfko")

# --- dependencies: only what a fresh Debian machine gets from its own archive and PyPI --------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  # A fresh machine may have empty package lists: update once, only when the install fails without it.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
    { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}
[ -x /usr/bin/time ] || apt_install time # the same wall/CPU meter for all three clients
command -v python3 >/dev/null || apt_install python3
command -v rclone >/dev/null || { echo "installing rclone (apt-get)" >&2; apt_install rclone; }
if ! python3 -c 'import boto3' 2>/dev/null; then
  echo "installing boto3 (pip)" >&2
  # Debian 12's system python refuses pip installs (PEP 668); its own python3-boto3 package is the fallback.
  python3 -m pip install --quiet boto3 || apt_install python3-boto3
fi

# --- work dir, server ----------------------------------------------------------------------------------------
work=$(mktemp -d)
server=""
cleanup() {
  [ -z "$server" ] || { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

key="sfko-embedded"
secret="sfko-embedded-secret"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint=http://127.0.0.1:$port
# --exit-with: the server also goes if this script is killed with SIGKILL (no trap runs then).
SFKO_ACCESS_KEY=$key SFKO_SECRET_KEY=$secret "$sfko" serve --listen "127.0.0.1:$port" --root "$work/root" \
  --exit-with $$ >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "sfko serve did not start:" >&2; cat "$work/serve.log" >&2; exit 3; }

# rclone reads its remote from the environment; an empty config file of our own keeps ~/.config/rclone out of it.
export RCLONE_CONFIG=$work/rclone.conf
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENDPOINT=$endpoint \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$key RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$secret \
  RCLONE_CONFIG_BENCH_REGION=us-east-1 RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
# rclone (its aws-sdk-go) refuses to start when AWS_CA_BUNDLE is set ("LoadCustomCABundleError ... unsupported
# transport"); the endpoint is plain HTTP on loopback, so no client needs a CA here.
unset AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1

# --- helpers in python: source files, the boto3 client, the table ---------------------------------------------
cat >"$work/peers.py" <<'PY'
import os, statistics, sys

MIB = 1024 * 1024
# The same rule sfko's `put` follows (and boto3's upload_file/the AWS CLI by default): one PutObject below 8 MiB,
# multipart at or above. The part size is boto3's default chunk size.
THRESHOLD = PART = 8 * MIB

def gen(src, count, size, layout):
    for i in range(count):
        # flat: obj-000000 …; sfko: sfko's own key shape, a random 4-hex-digit prefix (a "directory") per key.
        prefix = f"{int.from_bytes(os.urandom(2), 'big'):04x}/" if layout == "sfko" else ""
        path = os.path.join(src, f"{prefix}obj-{i:06}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(size))

def boto3_bench(endpoint, bucket, src, threads):
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, threads)))
    names = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)

    def body(name):
        with open(os.path.join(src, name), "rb") as f:
            return f.read()

    def put(name):
        data = body(name)
        if len(data) < THRESHOLD:
            s3.put_object(Bucket=bucket, Key=name, Body=data)
            return
        upload = s3.create_multipart_upload(Bucket=bucket, Key=name)["UploadId"]
        parts = []
        for number, offset in enumerate(range(0, len(data), PART), 1):
            r = s3.upload_part(Bucket=bucket, Key=name, UploadId=upload, PartNumber=number,
                               Body=data[offset:offset + PART])
            parts.append({"ETag": r["ETag"], "PartNumber": number})
        s3.complete_multipart_upload(Bucket=bucket, Key=name, UploadId=upload, MultipartUpload={"Parts": parts})

    def get(name):
        if s3.get_object(Bucket=bucket, Key=name)["Body"].read() != body(name):
            raise SystemExit(f"boto3: {bucket}/{name} read back different bytes")

    s3.create_bucket(Bucket=bucket)
    if threads <= 1:
        # The original tool's design: one request at a time.
        for name in names:
            put(name)
        for name in names:
            get(name)
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, names))  # list(): re-raises the first error
            list(pool.map(get, names))

def table(results, header):
    # results: workload count size client wall user sys server_cpu, one line per repetition
    rows = {}
    for line in open(results):
        wl, count, size, client, *nums = line.split()
        rows.setdefault((wl, int(count), int(size), client), []).append(list(map(float, nums)))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    lines = [header, "",
             "| workload | client | obj/s | MiB/s | client CPU per object (ms) | server CPU per object (ms) "
             "| ratio vs sfko (obj/s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    sfko_rate = {}
    for (wl, count, size, client), xs in rows.items():
        wall, cpu, server = med(xs, 0), med(xs, 1) + med(xs, 2), med(xs, 3)
        rate = count / wall
        if client == "sfko":
            sfko_rate[wl] = rate
        ratio = f"{rate / sfko_rate[wl]:.2f}×" if wl in sfko_rate else "–"
        label = f"{count} × {size // 1024} KiB" if size < MIB else f"{count} × {size // MIB} MiB"
        lines.append(f"| {label} | {client} | {rate:,.0f} | {2 * count * size / MIB / wall:,.1f} "
                     f"| {cpu * 1000 / count:.2f} | {server * 1000 / count:.2f} | {ratio} |")
    print("\n".join(lines))

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "boto3":
        boto3_bench(args[0], args[1], args[2], int(args[3]))
    elif cmd == "table":
        table(args[0], args[1])
PY

bytes() { # 4K, 1M, 16M, 100 → bytes (binary units, as sfko's scenario files write them)
  case $1 in
    *K) echo $((${1%K} * 1024)) ;;
    *M) echo $((${1%M} * 1024 * 1024)) ;;
    *) echo "$1" ;;
  esac
}

# One scenario per workload for sfko: `put` (one PutObject below 8 MiB, multipart at or above), then `get`, which
# reads every object in full and verifies every byte. No checks: the peers do no more than write and read back.
for w in $workloads; do
  IFS=: read -r name count size <<<"$w"
  printf -- '- name: %s\n  objects: {count: %s, size: %s}\n  tests: [put, get]\n' "$name" "$count" "$size"
done >"$work/scenarios.yaml"

# Server CPU (user + system, seconds) so far, from /proc: what each client's requests cost the shared server.
tick=$(getconf CLK_TCK)
server_cpu() { awk -v t="$tick" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$server/stat"; }

# timed FILE CMD...: run CMD under /usr/bin/time and add its "wall user sys" to FILE's (FILE may hold several lines).
timed() { local f=$1; shift; /usr/bin/time -f '%e %U %S' -o "$work/t" "$@"; cat "$work/t" >>"$f"; }

# Empty the server between runs (not timed), so every client meets the same, empty server.
purge() { rclone lsf --dirs-only bench: | while read -r b; do rclone purge "bench:${b%/}"; done; }

rclone_flags=(-q --transfers "$conc" --checkers "$conc")
# sfko's `put` goes multipart at 8 MiB (boto3's default threshold); make rclone do the same (its default cutoff is
# 200M) with boto3's default 8 MiB parts. --s3-no-head: rclone otherwise HEADs every object it uploaded, a request
# neither sfko nor boto3 sends (the PUT's ETag is already checked against the MD5).
rclone_up=(--s3-upload-cutoff 8M --s3-chunk-size 8M --s3-no-head)
results=$work/results.tsv
: >"$results"
rep=0
while [ "$rep" -lt "$reps" ]; do
  rep=$((rep + 1))
  for w in $workloads; do
    IFS=: read -r name count size <<<"$w"
    size=$(bytes "$size")
    src=$work/src/$name
    [ -d "$src" ] || python3 "$work/peers.py" gen "$src" "$count" "$size" "$keys" # not timed; rclone and boto3 upload these
    for client in $clients; do
      echo "rep $rep/$reps: $name ($count × $size B), $client" >&2
      t=$work/time-$name-$client-$rep
      : >"$t"
      before=$(server_cpu)
      bucket=$client-$name-r$rep
      case $client in
        sfko | sfko-nojournal)
          # --keep: no cleanup in the timed run (the peers do none either); purge below empties the server.
          # sfko-nojournal: the same run with journaling of ops off (SFKO_BENCH_JOURNAL=off), to measure its cost.
          journal=on
          [ "$client" = sfko ] || journal=off
          SFKO_BENCH_JOURNAL=$journal timed "$t" "$sfko" --endpoint "$endpoint" --region us-east-1 --scenarios-path "$work/scenarios.yaml" \
            --scenario "$name" --seed 1 --concurrency "$conc" -q --format json --keep --bucket-prefix "$client-r$rep" \
            --journal-dir "$work/journals" --corpus "$work/corpus" >"$work/$client-$name-$rep.json"
          ;;
        rclone)
          timed "$t" rclone copy "${rclone_flags[@]}" "${rclone_up[@]}" "$src" "bench:$bucket"
          # check --download reads every object and compares it byte for byte with the source, in memory
          # (as sfko's get does), instead of copying to disk first.
          timed "$t" rclone check "${rclone_flags[@]}" --download "$src" "bench:$bucket"
          ;;
        boto3) timed "$t" python3 "$work/peers.py" boto3 "$endpoint" "$bucket" "$src" 1 ;;
        boto3x*) timed "$t" python3 "$work/peers.py" boto3 "$endpoint" "$bucket" "$src" "${client#boto3x}" ;;
        *) echo "unknown client: $client" >&2; exit 2 ;;
      esac
      after=$(server_cpu)
      awk -v w="$name" -v n="$count" -v s="$size" -v c="$client" -v b="$before" -v a="$after" \
        '{ wall += $1; user += $2; sys += $3 } END { print w, n, s, c, wall, user, sys, a - b }' "$t" >>"$results"
      purge
    done
  done
done

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
header="$(date -u +%Y-%m-%dT%H:%MZ), $(uname -m), $(nproc) cores (client and server share them), sfko $commit, \
$(rclone version 2>/dev/null | head -1), boto3 $(python3 -c 'import boto3; print(boto3.__version__)'), \
concurrency $conc, reps $reps, peer keys $keys"
report=$(python3 "$work/peers.py" table "$results" "$header")
notes="
obj/s = objects / wall time of the whole client run (PUT every object, then GET and verify every object); MiB/s counts
the bytes both ways; CPU is user + system from /usr/bin/time (process start included), per object.
Requests: sfko sends CreateBucket, one ListObjectsV2, one PutObject per object (multipart at or above 8 MiB, seeded
5–16 MiB parts in parallel), one GetObject per object (bytes verified as they stream); rclone copy lists the
bucket and the source, creates the bucket, PutObject with Content-MD5 (multipart at 8 MiB, 8 MiB parts, MD5 of the
whole file first), and rclone check --download lists both sides again and GETs every object; boto3 sends
CreateBucket, PutObject (multipart at 8 MiB, 8 MiB parts, one at a time) and GetObject, with its default CRC
checksums, reading each source file from disk (page cache) for the PUT and again for the comparison."
# Fixed cost of starting each client process (wall and CPU), included in the figures above: it matters most where a
# run is short. rclone starts twice (copy, then check).
startup() { /usr/bin/time -f '%e s wall, %U+%S s CPU' -o "$work/s" "$@" >/dev/null 2>&1; cat "$work/s"; }
notes+="
Process start: sfko --version $(startup "$sfko" --version); rclone version $(startup rclone version); \
python3 + import boto3 + client $(startup python3 -c \
'import boto3; boto3.client("s3", endpoint_url="http://127.0.0.1:1", region_name="us-east-1")')."
# sfko's own report (rep 1): the requests it sent, by operation, and its throughput over its own clock (from the
# bucket's creation to the last GET, without process start), so its request mix is on record beside the table.
for w in $workloads; do
  f=$work/sfko-${w%%:*}-1.json
  [ -e "$f" ] || continue
  notes+=$'\n'$(python3 - "$f" "${w%%:*}" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timings"]
mix = ", ".join(f"{o['operation']} {o['ops']}" for o in t["operations"])
print(f"sfko's own report, {sys.argv[2]} (rep 1): {mix}; {t['ops_per_s']:,.0f} requests/s, {t['mib_per_s']:,.1f} MiB/s "
      f"over {t['elapsed_s']:.2f} s.")
PY
)
done
printf '%s\n%s\n' "$report" "$notes"
[ -z "$out" ] || printf '%s\n%s\n' "$report" "$notes" >"$out"
