#!/usr/bin/env bash
# The ingest benchmark: one generated corpus, imported by the Python baseline and by
# `abuse-desk import` on SQLite and on Postgres, in the same run, one after the other; each
# backend twice, the second time with the Outgoing Reports' standard periods made first, as
# on a live desk ("9 periods made").
#
#   benches/ingest/run.sh [COUNT]          (default 100000; corpus cached under /tmp)
#
# Needs python3, /usr/bin/time and, for the Postgres row, a server at $BENCH_POSTGRES_URL
# where it may create the database abuse_desk_bench. The default is the local server's Unix
# socket (postgres://%2Fvar%2Frun%2Fpostgresql), as a server on the same host is reached;
# postgres://127.0.0.1:5432 measures TCP with TLS.
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-100000}"
corpus="/tmp/abuse-desk-bench-$count"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ -S /var/run/postgresql/.s.PGSQL.5432 ]]; then
    pg="${BENCH_POSTGRES_URL:-postgres://%2Fvar%2Frun%2Fpostgresql}"
else
    pg="${BENCH_POSTGRES_URL:-postgres://127.0.0.1:5432}"
fi

if [[ ! -f "$corpus/manifest.json" ]]; then
    echo "generating $count messages into $corpus"
    python3 benches/ingest/gen_corpus.py --count "$count" --out "$corpus" --seed 1
fi
cargo build --release --quiet
bin=target/release/abuse-desk
mb=$(python3 -c "import json;print(json.load(open('$corpus/manifest.json'))['total_bytes']/1e6)")
reports=$(python3 -c "import json;print(json.load(open('$corpus/manifest.json'))['reports'])")

# Runs a command under /usr/bin/time; prints "seconds peak_rss_mb". Every run starts alike:
# the previous run's writes flushed, the corpus read once into the page cache.
measure() {
    sync
    find "$corpus/mail" -type f -print0 | xargs -0 cat > /dev/null
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err"; exit 1; }
    awk '{printf "%s %.0f\n", $1, $2/1024}' "$work/time"
}

row() { # name seconds rss
    awk -v n="$1" -v s="$2" -v r="$3" -v m="$count" -v rep="$reports" -v mb="$mb" \
        'BEGIN { printf "| %-24s | %8.1f | %10.0f | %9.0f | %7.1f | %7s |\n", n, s, m/s, rep/s, mb/s, r }'
}

# A live desk has the Outgoing Reports' standard periods made (housekeeping makes them each
# day: today, 7 and 30 days, for each grouping), and every import transaction adds to their
# totals. The "periods made" rows import with those of the corpus's last day made first.
periods_sql=$(python3 - "$corpus/manifest.json" <<'PY'
import datetime, json, sys
end = json.load(open(sys.argv[1]))["arrival_window_utc"][1]
last = (datetime.datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.timedelta(seconds=1)).date()
day = (last - datetime.date(1970, 1, 1)).days
rows = [f"({day - n + 1}, {day}, '{kind}', '')" for kind in "icu" for n in (1, 7, 30)]
print("INSERT INTO outgoing_periods (first_day, last_day, kind, class) VALUES " + ", ".join(rows) + ";")
PY
)

echo
echo "corpus: $count messages, $reports reports, $(printf '%.0f' "$mb") MB ($corpus)"
echo "| run                      | wall (s) | messages/s | reports/s |    MB/s | RSS(MB) |"
echo "|--------------------------|----------|------------|-----------|---------|---------|"

read -r secs rss < <(measure python3 benches/ingest/baseline_import.py --db "$work/baseline.sqlite" --customers "$corpus/customers.csv" "$corpus/mail")
row "python baseline (sqlite)" "$secs" "$rss"
baseline=$secs

db="sqlite://$work/desk.db"
$bin --database-url "$db" customers import "$corpus/customers.csv" > /dev/null
read -r secs rss < <(measure $bin --database-url "$db" import --json "$corpus/mail")
row "abuse-desk sqlite" "$secs" "$rss"
echo "  summary: $(cat "$work/out")"
sqlite_secs=$secs

db="$work/periods.db"
$bin --database-url "sqlite://$db" customers import "$corpus/customers.csv" > /dev/null
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.close()' "$db" "$periods_sql"
read -r secs rss < <(measure $bin --database-url "sqlite://$db" import --json "$corpus/mail")
row "  ... 9 periods made" "$secs" "$rss"

if psql "$pg/postgres" -qc 'DROP DATABASE IF EXISTS abuse_desk_bench' -c 'CREATE DATABASE abuse_desk_bench' > /dev/null 2>&1; then
    db="$pg/abuse_desk_bench"
    $bin --database-url "$db" customers import "$corpus/customers.csv" > /dev/null
    read -r secs rss < <(measure $bin --database-url "$db" import --json "$corpus/mail")
    row "abuse-desk postgres" "$secs" "$rss"
    echo "  summary: $(cat "$work/out")"
    psql "$pg/postgres" -qc 'DROP DATABASE abuse_desk_bench' -c 'CREATE DATABASE abuse_desk_bench' > /dev/null
    $bin --database-url "$db" customers import "$corpus/customers.csv" > /dev/null
    psql "$db" -qc "$periods_sql" > /dev/null
    read -r secs rss < <(measure $bin --database-url "$db" import --json "$corpus/mail")
    row "  ... 9 periods made" "$secs" "$rss"
    psql "$pg/postgres" -qc 'DROP DATABASE IF EXISTS abuse_desk_bench' > /dev/null 2>&1 || true
else
    echo "(no Postgres at $pg: Postgres row skipped)"
fi
awk -v b="$baseline" -v s="$sqlite_secs" 'BEGIN { printf "\nabuse-desk on SQLite is %.1fx the Python baseline\n", b/s }'
