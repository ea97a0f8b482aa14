#!/usr/bin/env bash
# Property-based fuzzing of the resident system's HTTP contract: schemathesis (from PyPI) reads the committed
# backend-adapter/openapi.json and throws generated requests, valid and invalid, at the real reference server
# (`madoguchi resident-system serve`) on 127.0.0.1. It fails on any 5xx, any status, content type or body the
# contract does not document, and on invalid data the server accepts.
#
#   scripts/api-fuzz.sh [EXAMPLES_PER_OPERATION] [SEED]      (defaults: 100, 2026)
#
# Run after `cargo test` (it reuses the debug binary). schemathesis is installed into a virtualenv under the
# target directory on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-100}"
seed="${2:-2026}"
target="${CARGO_TARGET_DIR:-target}"
venv="$target/schemathesis-venv"
schemathesis_version="4.32.5"

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi

cargo build --locked -q -p madoguchi --bin madoguchi
bin="$target/debug/madoguchi"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" resident-system generate --out "$work/residents.sqlite" --households 200 --seed 7 >/dev/null
"$bin" resident-system serve --listen 127.0.0.1:0 --database "$work/residents.sqlite" >"$work/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 100); do
    url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -n 1 || true)"
    [ -n "$url" ] && break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "the reference server did not start:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi

echo "fuzzing the resident system contract at $url ($examples examples per operation, seed $seed)"
SCHEMATHESIS_HOOKS="$PWD/backend-adapter/schemathesis_hooks.py" "$venv/bin/st" --config-file backend-adapter/schemathesis.toml run backend-adapter/openapi.json --url "$url" --checks all --max-examples "$examples" \
    --seed "$seed" --workers 1 --no-color
