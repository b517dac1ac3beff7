#!/usr/bin/env bash
# The hot paths over HTTP against /healthz, with a token per request as a real crowd has (3,000
# fans, each well under the per-user budget), and a refused request against a served one.
#
# Usage: benches/http-limits.sh SERVER_BINARY LABEL [server flags...]
#   limits on:  benches/http-limits.sh target/release/server on --trusted-proxies 127.0.0.1
#   limits off: benches/http-limits.sh target/release/server off --trusted-proxies 127.0.0.1 --user-rate-limit 0 --client-rate-limit 0
# Needs wrk (Debian package). The fans are registered with X-Forwarded-For addresses of their own,
# so a server with the per-client limit on lets the setup through when it trusts 127.0.0.1.
set -euo pipefail
BIN=$1; LABEL=$2; shift 2
# wrk's threads, connections and duration; benches/http-ceiling.sh runs the bare server alike.
WRK_ARGS=${WRK_ARGS:--t2 -c64 -d10s}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=18090; BASE=http://127.0.0.1:$PORT; API=$BASE/api/v1; KEY=benchmark-admin-key-0123
WORK=$(mktemp -d)
"$BIN" --addr 127.0.0.1:$PORT --data-dir "$WORK/data" --admin-key $KEY --active-max 5000 --fsync always "$@" > "$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
field() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\\1/"; }
CONCERT=$(curl -s -X POST $API/admin/concerts -H "X-Admin-Key: $KEY" -H 'Content-Type: application/json' \
  -d '{"title":"Bench","dates":[{"date":"2026-12-24","seatCount":50,"price":1000}]}' | field concertId)
for i in $(seq 1 3000); do
  XFF="10.$((i/65536%256)).$((i/256%256)).$((i%256))"
  U=$(curl -s -X POST $API/users -H "X-Forwarded-For: $XFF" -H 'Content-Type: application/json' -d '{"name":"b"}' | field userId)
  curl -s -X POST $API/queue/tokens -H "X-Forwarded-For: $XFF" -H 'Content-Type: application/json' -d "{\"userId\":\"$U\"}" | field token
  echo
done > "$WORK/tokens.txt"
head -1 "$WORK/tokens.txt" > "$WORK/one-token.txt"
SEATS_PATH=/api/v1/concerts/$CONCERT/dates/2026-12-24/seats
HOLD_BODY="{\"concertId\":\"$CONCERT\",\"date\":\"2026-12-24\",\"seatNumber\":7}"
# With CEILING_BODIES set (benches/http-ceiling.sh sets it), the server's own answers are kept
# there for the bare server to answer the same requests with: a seat map, a token's status, and
# a hold attempt refused (the first takes the seat that every later one is refused).
if [ -n "${CEILING_BODIES:-}" ]; then
  keep() { local path=$1; shift; curl -s "$@" "$BASE$path" > "$CEILING_BODIES/${path//\//_}"; }
  AUTH="Authorization: Bearer $(head -1 "$WORK/tokens.txt")"
  keep "$SEATS_PATH" -H "$AUTH"
  keep /api/v1/queue/tokens/me -H "$AUTH"
  for _ in 1 2; do
    keep /api/v1/reservations -X POST -H "$AUTH" -H 'Content-Type: application/json' -d "$HOLD_BODY"
  done
fi
# With CEILING_BASE set (benches/http-ceiling.sh sets it), each line also gives the bare server's
# rate for the same requests driven the same way (the same Lua script, whose cost to wrk is then
# in both), and the ratio of the two.
rate() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
report() { # label, wrk output, then how to drive the ceiling alike
  local name=$1 out=$2; shift 2
  local line="$LABEL | $name | $(rate "$out") | p50 $(awk '$1=="50%" {print $2}' <<<"$out") | p99 $(awk '$1=="99%" {print $2}' <<<"$out") | non-2xx $(awk '/Non-2xx/ {print $5}' <<<"$out")"
  if [ -n "${CEILING_BASE:-}" ]; then
    local ceiling; ceiling=$(rate "$("$@" "$CEILING_BASE" 2>&1)")
    line="$line | bare $ceiling | ratio $(awk -v r="$(rate "$out")" -v c="$ceiling" 'BEGIN { printf "%.2f", r / c }')"
  fi
  echo "$line"
}
scripted() { # the Lua script's environment, then the base
  local base=${*: -1}
  env TOKENS_FILE="$WORK/tokens.txt" "${@:1:$#-1}" wrk $WRK_ARGS --latency -s "$HERE/http-limits.lua" "$base"
}
plain() { wrk $WRK_ARGS --latency "$1/healthz"; }
run() { # name, then the Lua script's environment
  local name=$1; shift
  report "$name" "$(scripted "$@" $BASE 2>&1)" scripted "$@"
}
report healthz "$(plain $BASE 2>&1)" plain
run seat_map BENCH_PATH=$SEATS_PATH
run token_status BENCH_PATH=/api/v1/queue/tokens/me
run hold_attempt BENCH_PATH=/api/v1/reservations BENCH_METHOD=POST "BENCH_BODY=$HOLD_BODY"
run token_status_one_user TOKENS_FILE="$WORK/one-token.txt" BENCH_PATH=/api/v1/queue/tokens/me
