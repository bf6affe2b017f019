#!/usr/bin/env bash
# The IMAP benchmark: COUNT generated reports in a throw-away Dovecot's INBOX become
# tickets with one `abuse-desk poll --once` on SQLite, every message moved to Done (or,
# for the few non-reports, Rejected). Timed end to end: process start, login, fetch, parse,
# store, move.
#
#   benches/imap/run.sh [COUNT]          (default 10000; corpus cached under /tmp)
#
# Needs /usr/sbin/dovecot (apt-get install dovecot-imapd), python3, /usr/bin/time. Run as
# root (Dovecot's mail processes then run as nobody) or as a normal user.
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-10000}"
corpus="/tmp/abuse-desk-bench-$count"
work="$(mktemp -d)"
chmod 755 "$work"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cleanup() {
    [[ -n "${dovecot_pid:-}" ]] && kill -TERM "$dovecot_pid" 2>/dev/null && wait "$dovecot_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

if [[ ! -f "$corpus/manifest.json" ]]; then
    echo "generating $count messages into $corpus"
    python3 benches/ingest/gen_corpus.py --count "$count" --out "$corpus" --seed 1
fi
# BENCH_BIN runs another build (e.g. a debug one, to try the script quickly).
bin="${BENCH_BIN:-target/release/abuse-desk}"
[[ -n "${BENCH_BIN:-}" ]] || cargo build --release --quiet

if [[ $(id -u) == 0 ]]; then
    login_user=nobody internal_user=root uid=65534 gid=65534
else
    login_user=$(id -un) internal_user=$(id -un) uid=$(id -u) gid=$(id -g)
fi
echo "bench:{PLAIN}bench::::::" > "$work/users"
cat > "$work/dovecot.conf" <<CONF
base_dir = $work/run
state_dir = $work/state
log_path = $work/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
default_internal_user = $internal_user
default_login_user = $login_user
first_valid_uid = 0
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $work/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$work/home/%u
}
CONF

# Delivered the way an MTA's local delivery does it: files in Maildir/new, then indexed
# once by Dovecot (as a server that received them over time would have them).
maildir="$work/home/bench/Maildir"
mkdir -p "$maildir"/{new,cur,tmp}
find "$corpus/mail" -name '*.eml' | sort | head -n "$count" | awk -v d="$maildir/new" \
    '{ printf "%s\0%s/%d.M%dP1.bench\0", $0, d, NR, NR }' | xargs -0 -n 2 -P 2 cp
chown -R "$uid:$gid" "$work/home"
/usr/sbin/dovecot -F -c "$work/dovecot.conf" & dovecot_pid=$!
for _ in $(seq 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done
doveadm -c "$work/dovecot.conf" mailbox status -u bench messages INBOX

cat > "$work/desk.toml" <<CONF
database_url = "sqlite://$work/desk.db"

[[mailboxes]]
name = "bench"
host = "127.0.0.1"
port = $port
tls = "none"
username = "bench"
password = "bench"
done_folder = "Done"
rejected_folder = "Rejected"
CONF
$bin --config "$work/desk.toml" customers import "$corpus/customers.csv" > /dev/null

echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
/usr/bin/time -f '%e %M' -o "$work/time" $bin --config "$work/desk.toml" poll --once --json > "$work/out" 2> "$work/log"
[[ -n "${RUST_LOG:-}" ]] && cat "$work/log"
read -r secs rss < "$work/time"
echo "summary: $(cat "$work/out")"
for folder in INBOX Done Rejected; do
    doveadm -c "$work/dovecot.conf" mailbox status -u bench messages "$folder"
done
python3 - "$work/out" "$secs" "$rss" "$count" <<'PY'
import json, sys
out, secs, rss, count = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = out["mailboxes"][0]
assert m["messages"] == count, f"read {m['messages']} of {count}"
assert m["moved"] + m["rejected"] == count, "not every message was moved"
print(f"poll --once: {count} messages in {secs:.2f} s = {count/secs:,.0f} messages/s end to end "
      f"({m['new_tickets']} new tickets, {m['updated_tickets']} updated, {m['duplicates']} duplicates, "
      f"{m['quarantined']} quarantined; peak RSS {rss/1024:.0f} MB)")
PY
