#!/usr/bin/env bash
# Seeds the scenario_parser corpus from the shipped scenario files plus a few
# hand-written edge cases, so libFuzzer starts from valid documents instead
# of discovering YAML from scratch.
#   usage: fuzz/seed_corpus.sh   (from anywhere)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="$here/corpus/scenario_parser"
mkdir -p "$corpus"
for f in "$here"/../scenarios/*.yaml "$here"/../scenarios/*.yml; do
    [ -e "$f" ] && cp "$f" "$corpus/$(basename "$f")"
done
printf -- '- name: a\n  tests: [put]\n' > "$corpus/min-list.yaml"
printf -- 'scenarios:\n  - {name: b, objects: {size: {min: 0B, max: 2M}, count: 3}, tests: [get], checks: [check-etag]}\n' > "$corpus/flow.yaml"
printf -- 'clouds: {A: &A azr}\nscenarios:\n  - name: c\n    required: {buckets: [{replication: [*A], clouds: [s3], expiration: 1h30m, versioning: true, transient: true}]}\n    tests: [put-replication]\n' > "$corpus/anchors.yaml"
echo "seeded $(ls "$corpus" | wc -l) files into $corpus"

# journal_decoder: a real (small) journal, recorded against the embedded target, plus a truncated copy.
jcorpus="$here/corpus/journal_decoder"
mkdir -p "$jcorpus"
tmp="$(mktemp -d)"
printf -- '- name: tiny\n  objects: {count: 3, size: {min: 0B, max: 3K}}\n  tests: [put, get, delete]\n  checks: [check-backend, check-etag]\n' > "$tmp/tiny.yaml"
(cd "$here/.." && cargo run --quiet -- --seed 1 --scenarios-path "$tmp/tiny.yaml" --journal "$jcorpus/tiny.bin" -q >/dev/null) || true
[ -f "$jcorpus/tiny.bin" ] && head -c 700 "$jcorpus/tiny.bin" > "$jcorpus/tiny-cut.bin"
# ...and a random-ops journal: listings with common prefixes, model expectations with alternatives.
printf -- '- name: r\n  tests: [random-ops]\n  random_ops: {ops: 30, keys: 3, weights: {mpu-part: 0, mpu-create: 0}}\n' > "$tmp/random.yaml"
(cd "$here/.." && cargo run --quiet -- --seed 1 --scenarios-path "$tmp/random.yaml" --journal "$jcorpus/random.bin" -q >/dev/null) || true
rm -rf "$tmp"
echo "seeded $(ls "$jcorpus" | wc -l) files into $jcorpus"

# config_parser: the README's config shapes.
ccorpus="$here/corpus/config_parser"
mkdir -p "$ccorpus"
printf 'target: {endpoint: http://127.0.0.1:9000, region: us-east-1, credentials: {access_key_env: A, secret_key_env: B}}\n' > "$ccorpus/target.yaml"
printf 'backends:\n  - {name: aws-1, cloud: AWS, endpoint: http://x, bucket: b, key: "{bucket}/{key}", credentials: {profile: p}}\nreplication: {mode: zenko, deadline: 2m, role: r}\nlifecycle: {day: 10s, deadline: 1m}\ntransient_location: t\n' > "$ccorpus/full.yaml"
echo "seeded $(ls "$ccorpus" | wc -l) files into $ccorpus"
