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
