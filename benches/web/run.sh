#!/usr/bin/env bash
# Load benchmark of the web queue: 1,000,000 events in 100,000 tickets, served by a release
# build of `abuse-desk serve`, measured by oha from a second process, on SQLite and on
# Postgres. Each URL is measured two ways (MODES):
#   flat  16 connections flat out (the headline): throughput, and latency at saturation,
#         where p99 is about concurrency / throughput and says more about the CPU per request
#         than about what a user waits;
#   rate  the same 16 connections held to RATE requests/s in all (open loop, latency counted
#         from when each request was due, so a stall is not hidden): the latency a user sees
#         under a heavy staff load.
# Prints, per URL and mode, req/s, p50, p99, the requests that failed (an answer other than
# 200, or an error such as a timeout) and those cut off in flight at the end, and writes
# oha's full output to $OUT.
#
#   benches/web/run.sh [sqlite|postgres|both]      (default both)
#
# Needs: oha (`cargo install oha --locked`), curl; for Postgres a server at PG_URL with psql.
# PG_URL's default is the local server's Unix socket (postgres://%2Fvar%2Frun%2Fpostgresql),
# as a server on the same host is reached; postgres://127.0.0.1:5432 measures TCP with TLS.
# Environment: TICKETS, EVENTS, DURATION (30s per URL and mode), CONNECTIONS (16), MODES
# ("flat rate"), RATE (100 requests/s), TIMEOUT (30s: a request still unanswered then counts
# as an error), OUT (/tmp/abuse-desk-web-bench), PG_DB (abuse_desk_web_bench: dropped and
# made again), PORT (18080), ONLY (a regex: measure only the URLs it matches, e.g.
# ONLY='q=' for the free-text searches, ONLY='^/tickets' for the queue and ticket pages,
# ONLY='outgoing' for the Outgoing Reports alone).
set -euo pipefail
cd "$(dirname "$0")/../.."

TICKETS=${TICKETS:-100000}
EVENTS=${EVENTS:-1000000}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-16}
MODES=${MODES:-flat rate}
RATE=${RATE:-100}
TIMEOUT=${TIMEOUT:-30s}
PG_DB=${PG_DB:-abuse_desk_web_bench}
OUT=${OUT:-/tmp/abuse-desk-web-bench}
PORT=${PORT:-18080}
if [[ -S /var/run/postgresql/.s.PGSQL.5432 ]]; then
    PG_URL=${PG_URL:-postgres://%2Fvar%2Frun%2Fpostgresql}
else
    PG_URL=${PG_URL:-postgres://127.0.0.1:5432}
fi
WHICH=${1:-both}
BASE="http://127.0.0.1:$PORT"

command -v oha >/dev/null || { echo "oha is missing: cargo install oha --locked" >&2; exit 1; }
mkdir -p "$OUT"
cargo build --release --bin abuse-desk --example seed_web
BIN=target/release/abuse-desk
SEED=target/release/examples/seed_web

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi
}
trap stop_server EXIT

# Requests cut off at the end of a slow URL's run leave their storage work running to its
# end: the next run starts once four ticket pages at once come back within a second each.
settle() {
    local jar=$1 slowest
    for _ in $(seq 120); do
        slowest=$(for _ in 1 2 3 4; do
            curl -s -o /dev/null -m 60 -w '%{time_total}\n' -b "$jar" "$BASE/tickets/31337" &
        done | sort -n | tail -n1)
        awk -v t="${slowest:-99}" 'BEGIN { exit !(t < 1) }' && return
    done
}

bench_backend() {
    local backend=$1 url
    case $backend in
        sqlite)
            rm -f "$OUT"/bench.db*
            url="sqlite://$OUT/bench.db" ;;
        postgres)
            psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
            psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB"
            url="$PG_URL/$PG_DB" ;;
    esac
    echo "== $backend: seeding $TICKETS tickets, $EVENTS events"
    "$SEED" "$url" "$TICKETS" "$EVENTS"

    # Another server on the port would be measured instead of this one.
    if curl -s -o /dev/null "$BASE/healthz"; then
        echo "something already answers on port $PORT: stop it or set PORT" >&2; exit 1
    fi
    ABUSE_DESK_WEB__SESSION_KEY=$(head -c 48 /dev/urandom | base64 -w0 | head -c 64) \
    ABUSE_DESK_LOG=warn DATABASE_URL="$url" ABUSE_DESK_DATABASE_POOL_SIZE=16 \
        "$BIN" serve --bind "127.0.0.1:$PORT" >"$OUT/serve-$backend.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null || { echo "the server did not start: $OUT/serve-$backend.log" >&2; cat "$OUT/serve-$backend.log" >&2; exit 1; }

    # Log in as an agent the way a browser does: the form's CSRF token, then the cookie.
    local jar="$OUT/cookies-$backend" token cookie
    rm -f "$jar"
    token=$(curl -s -c "$jar" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1)
    curl -s -b "$jar" -c "$jar" -o /dev/null -d "csrf_token=$token&username=agent&password=benchmark-password" "$BASE/login"
    cookie=$(awk '$6 == "abuse_desk_session" { print $7 }' "$jar")
    [[ -n "$cookie" ]] || { echo "login failed" >&2; exit 1; }

    # A deep page: the keyset cursor of a row 15 days back (any position works the same).
    local deep_micros big_ticket
    deep_micros=$(( ($(date +%s) - 15 * 86400) * 1000000 ))
    big_ticket=$(curl -s -b "$jar" "$BASE/api/v1/tickets?status=all&sort=events" | grep -o '"id":[0-9]*' | head -n1 | cut -d: -f2)
    local urls=(
        "/tickets"
        "/tickets?status=all"
        "/tickets?after=${deep_micros}_999999999"
        "/tickets?status=all&sort=events&after=3_50000"
        "/tickets?sort=first_seen&after=${deep_micros}_999999999"
        "/tickets?sort=events_24h"
        "/tickets?severity=escalation&sort=events"
        "/tickets?class=fraud&status=all"
        "/tickets?customer=cust-0042&status=all"
        "/tickets?unresolved=1"
        "/tickets?assignee=none&feed=AOL"
        "/tickets?feed=ReturnPath"
        "/tickets?q=user4242%40"
        "/tickets?q=customer+1234&status=all"
        "/tickets?q=10.0.42."
        "/tickets?q=cust7"
        "/tickets/$big_ticket"
        "/tickets/31337"
    )
    # The Outgoing Reports: every grouping, class and period (a custom one of 90 days).
    local today from g c p
    today=$(date -u +%F)
    from=$(date -u -d "$today - 89 days" +%F)
    for g in identity customer outgoing_user; do
        for c in all fraud; do
            for p in today 7d 30d "custom&from=$from&to=$today"; do
                urls+=("/reports/outgoing?group=$g&period=$p&class=$c")
            done
        done
    done
    printf '%-5s %-110s %8s %9s %9s %7s %5s\n' mode "$backend URL" "req/s" "p50 ms" "p99 ms" "failed" "cut" | tee -a "$OUT/summary.txt"
    for u in "${urls[@]}"; do
        [[ -z "${ONLY:-}" || "$u" =~ $ONLY ]] || continue
        for mode in $MODES; do
            settle "$jar"
            local f="$OUT/oha-$backend-$mode-$(echo "$u" | tr -c 'a-zA-Z0-9' '_').json" pace=()
            case $mode in
                flat) ;;
                rate) pace=(-q "$RATE" --latency-correction) ;;
                *) echo "unknown mode $mode (flat, rate)" >&2; exit 2 ;;
            esac
            # A request unanswered after TIMEOUT fails, and oha stops at DURATION whatever is
            # still in flight: a slow URL cannot hold the run up.
            oha --no-tui --output-format json -z "$DURATION" -c "$CONNECTIONS" -t "$TIMEOUT" \
                "${pace[@]}" -H "Cookie: abuse_desk_session=$cookie" "$BASE$u" >"$f"
            python3 - "$f" "$mode" "$backend $u" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
errors = d.get("errorDistribution", {})
# Requests still in flight when the run ends are cut off, not failed (one per connection).
cut = errors.pop("aborted due to deadline", 0)
failed = sum(n for c, n in codes.items() if c != "200") + sum(errors.values())
ms = lambda v: f"{v * 1000:9.2f}" if v is not None else f"{'-':>9}"
print(f'{sys.argv[2]:<5} {sys.argv[3][:110]:<110} {s["requestsPerSec"]:>8.0f} {ms(p["p50"])} {ms(p["p99"])} {failed:>7} {cut:>5}')
PY
        done
    done
    stop_server
}

: >"$OUT/summary.txt"
case $WHICH in
    sqlite|postgres) bench_backend "$WHICH" ;;
    both) bench_backend sqlite; bench_backend postgres ;;
    *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
esac
echo "summary: $OUT/summary.txt"
