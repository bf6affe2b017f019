#!/usr/bin/env bash
# The spam-run load test at full length: a release `abuse-desk serve` polls a real Dovecot
# mailbox into which 50 distinct reports a second are appended for 10 minutes, while 16 staff
# sessions work the queue and request locks from a stand-in of the filter's API. The driver
# is the one CI runs for a minute (tests/it/spamrun/); it prints the figures and fails when a
# bound is broken.
#
#   benches/spamrun/run.sh [sqlite|postgres]
#
# SPAMRUN_SECONDS (600), SPAMRUN_RATE (50), SPAMRUN_SESSIONS (16) and SPAMRUN_THINK_MS (500)
# change the load; Postgres is TEST_DATABASE_URL's server (the run creates and drops its own
# database there). Needs /usr/sbin/dovecot (apt-get install dovecot-imapd).
set -euo pipefail
cd "$(dirname "$0")/../.."

backend="${1:-sqlite}"
case "$backend" in
    sqlite | postgres) ;;
    *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac

export SPAMRUN_SECONDS="${SPAMRUN_SECONDS:-600}"
cargo build --release --bin abuse-desk
export SPAMRUN_BIN="$PWD/target/release/abuse-desk"
# A missing Dovecot or Postgres is a failure here, not a skipped test.
export CI=true
cargo test --test it "spamrun::spam_run_on_${backend}_" -- --nocapture
