#!/usr/bin/env bash
# The README's test command: installs what the integration tests need when it is missing, then runs every test.
#   bash tests/run.sh            (extra args go to cargo test, e.g. bash tests/run.sh --test faults)
# Real servers only: the tests start their own s3s-fs (`sfko serve`), moto and nats-server processes on free
# loopback ports; nothing here relies on services already running on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.1   # the moto tests pin this version's behaviour (including its multipart finding)

say() { printf 'tests/run.sh: %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

JUNITPARSER_VERSION=3.2.0   # the JUnit test reads sfko's XML with a real JUnit parser

if ! python3 -c "import junitparser, sys; sys.exit(junitparser.version != '$JUNITPARSER_VERSION')" 2>/dev/null; then
  say "installing junitparser==$JUNITPARSER_VERSION from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "junitparser==$JUNITPARSER_VERSION"
fi

JSONSCHEMA_VERSION=4.26.0   # the schema test validates `sfko schema` output with a real draft 2020-12 validator

if ! python3 -c "import importlib.metadata as m, yaml, sys; sys.exit(m.version('jsonschema') != '$JSONSCHEMA_VERSION')" 2>/dev/null; then
  say "installing jsonschema==$JSONSCHEMA_VERSION and PyYAML from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "jsonschema==$JSONSCHEMA_VERSION" PyYAML
fi

# pip may put scripts outside PATH (user installs, pyenv without shims): look there first, so an installed moto is
# found rather than installed again.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

# (sed, not grep -q: grep would stop reading, and pipefail would count pip's broken pipe as "not installed")
if ! command -v moto_server >/dev/null 2>&1 || [ "$(python3 -m pip show moto 2>/dev/null | sed -n 's/^Version: //p')" != "$MOTO_VERSION" ]; then
  say "installing moto[server]==$MOTO_VERSION from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  hash -r
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  say "installing nats-server from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

say "cargo test"
cargo test --locked "$@"
