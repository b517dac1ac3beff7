#!/usr/bin/env bash
# The server's HTTP measured against its framework's ceiling in one run: each of
# benches/http-limits.sh's lines (limits on, a token per request out of 3,000, --fsync always)
# beside a bare actix-web with as many workers answering the same requests with the same JSON the
# server answered them with, and nothing else (benches/bare_server.rs), driven the same way, and
# the ratio of the two.
#
# Usage: benches/http-ceiling.sh target/release/server [server flags...]
# Needs wrk (Debian package); WRK_ARGS sets its threads, connections and duration for both.
set -euo pipefail
BIN=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
BARE_PORT=18091
(cd "$HERE/.." && cargo bench --bench bare_server --no-run --quiet 2>/dev/null)
BARE=$(ls -t "$HERE"/../target/release/deps/bare_server-* | grep -v '\.d$' | head -1)
BODIES=$(mktemp -d)
"$BARE" 127.0.0.1:$BARE_PORT 2 "$BODIES" > /dev/null 2>&1 &
BARE_PID=$!
trap 'kill $BARE_PID 2>/dev/null; wait $BARE_PID 2>/dev/null; rm -rf "$BODIES"' EXIT
sleep 1
CEILING_BODIES=$BODIES CEILING_BASE=http://127.0.0.1:$BARE_PORT "$HERE/http-limits.sh" "$BIN" on --trusted-proxies 127.0.0.1 "$@"
