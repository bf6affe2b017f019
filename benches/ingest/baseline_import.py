#!/usr/bin/env python3
"""Baseline for the ingest benchmark: what an abuse team would write in stdlib Python 3.11.

    python3 baseline_import.py --db out.sqlite --customers DIR/customers.csv DIR/mail

Walks the mail folder(s) for *.eml, stores each raw message (zlib level 1, keyed by sha256,
re-deliveries counted as duplicates), parses it with the `email` package, finds the
message/feedback-report part, takes the offender's identity from the original, resolves the
customer (identity -> sender domain with parent walk -> most specific netblock), deduplicates
events with a UNIQUE index and upserts one open ticket per (customer, subject, class).
Messages that are not reports go to `quarantine`. Commits every 5000 messages. Prints one JSON line.
"""
import argparse, csv, email, email.policy, email.utils, hashlib, ipaddress, json, os, re, sqlite3, sys, time, zlib
from email.parser import HeaderParser

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE NOT NULL, name TEXT, email TEXT);
CREATE TABLE IF NOT EXISTS raw_messages (id INTEGER PRIMARY KEY, sha256 BLOB UNIQUE NOT NULL, size INTEGER,
    received_at TEXT DEFAULT CURRENT_TIMESTAMP, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY, raw_id INTEGER REFERENCES raw_messages(id), reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
    subject TEXT NOT NULL, class TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open',
    event_count INTEGER NOT NULL DEFAULT 1, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS tickets_open ON tickets (COALESCE(customer_id, 0), subject, class) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, raw_id INTEGER REFERENCES raw_messages(id),
    reporter TEXT, feedback_type TEXT, message_key TEXT, source_ip TEXT, arrival TEXT,
    identity TEXT, sender TEXT, customer_id INTEGER, resolved_by TEXT, ticket_id INTEGER REFERENCES tickets(id));
CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events (reporter, feedback_type, message_key, source_ip, arrival);
"""
AUTH_RE = re.compile(r"smtp\.auth=([^\s;]+)", re.I)


def load_customers(db, path):
    idents, domains, nets = {}, {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            cid = db.execute("INSERT INTO customers (external_id, name, email) VALUES (?, ?, ?)",
                             (row["external_id"], row["name"], row["email"])).lastrowid
            for table, col in ((idents, "identities"), (domains, "domains")):
                for v in filter(None, (x.strip().lower() for x in row[col].split(";"))):
                    if v in table:
                        sys.exit(f"duplicate {col[:-1]} {v!r} ({row['external_id']})")
                    table[v] = cid
            for v in filter(None, (x.strip() for x in row["netblocks"].split(";"))):
                net = ipaddress.ip_network(v, strict=False)
                if net in nets:
                    sys.exit(f"duplicate netblock {v} ({row['external_id']})")
                nets[net] = cid
    # prefix lengths per IP version, most specific first, for a dict lookup per length
    plens = {v: sorted({n.prefixlen for n in nets if n.version == v}, reverse=True) for v in (4, 6)}
    return idents, domains, nets, plens


def resolve(cust, identity, sender, ip):
    idents, domains, nets, plens = cust
    if identity and identity in idents:
        return idents[identity], "identity"
    if sender and "@" in sender:
        labels = sender.rsplit("@", 1)[1].split(".")
        for i in range(len(labels) - 1):
            if (cid := domains.get(".".join(labels[i:]))) is not None:
                return cid, "domain"
    if ip:
        addr = ipaddress.ip_address(ip)
        for plen in plens[addr.version]:
            if (cid := nets.get(ipaddress.ip_network(f"{addr}/{plen}", strict=False))) is not None:
                return cid, "netblock"
    return None, "unresolved"


def parse_report(msg, policy):
    """-> (fields dict, original headers Message) or raises ValueError with the reason."""
    fb = orig = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report" and fb is None:
            fb = part
        elif ctype == "message/rfc822" and orig is None and fb is not None:
            orig = part.get_payload(0)
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers") and orig is None and fb is not None:
            orig = HeaderParser(policy=policy).parsestr(part.get_payload(decode=True).decode("utf-8", "replace"))
    if fb is None:
        raise ValueError(f"no message/feedback-report part ({msg.get_content_type()})")
    payload = fb.get_payload()
    if isinstance(payload, list):      # the email package parses message/* parts as header blocks
        items = payload[0].items()
    else:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        items = [l.split(":", 1) for l in re.sub(r"\r?\n[ \t]+", " ", text).splitlines() if ":" in l]
    fields = {}
    for name, value in items:
        fields.setdefault(name.strip().lower(), []).append(str(value).strip())
    if "feedback-type" not in fields:
        raise ValueError("feedback report without Feedback-Type")
    return fields, orig


def first(fields, name):
    return fields.get(name, [None])[0]


def identity_of(orig, fields):
    if orig is not None:
        if v := orig.get("X-AuthUser"):
            return str(v).strip().lower()
        user, dom = orig.get("X-SpamExperts-Username"), orig.get("X-SpamExperts-Domain")
        if user:
            return (str(user) if "@" in str(user) or not dom else f"{user}@{dom}").strip().lower()
    for ar in fields.get("authentication-results", []) + ([str(h) for h in orig.get_all("Authentication-Results", [])] if orig else []):
        if m := AUTH_RE.search(ar):
            return m.group(1).lower()
    return None


def main():
    ap = argparse.ArgumentParser(description="stdlib-Python ARF importer (benchmark baseline)")
    ap.add_argument("--db", required=True)
    ap.add_argument("--customers", required=True)
    ap.add_argument("--policy", choices=("compat32", "default"), default="compat32",
                    help="email policy: compat32 (the email package's default, ~10x faster here) or default")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    t0 = time.monotonic()
    policy = getattr(email.policy, args.policy)
    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    cust = load_customers(db, args.customers)
    db.commit()
    files = sorted(os.path.join(d, f) for p in args.paths for d, _, fs in os.walk(p) for f in fs if f.endswith(".eml"))
    n = dict(messages=0, reports=0, events=0, duplicate_events=0, new_tickets=0, updated_tickets=0,
             duplicates=0, quarantined=0, unresolved=0)
    nbytes = 0
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        n["messages"] += 1
        if n["messages"] % 5000 == 0:
            db.commit()
        nbytes += len(raw)
        cur = db.execute("INSERT OR IGNORE INTO raw_messages (sha256, size, data) VALUES (?, ?, ?)",
                         (hashlib.sha256(raw).digest(), len(raw), zlib.compress(raw, 1)))
        if cur.rowcount == 0:
            n["duplicates"] += 1
            continue
        raw_id = cur.lastrowid
        try:
            msg = email.message_from_bytes(raw, policy=policy)
            fields, orig = parse_report(msg, policy)
        except Exception as e:   # not a report, or broken beyond parsing: keep it with the reason
            db.execute("INSERT INTO quarantine (raw_id, reason) VALUES (?, ?)", (raw_id, str(e)))
            n["quarantined"] += 1
            continue
        n["reports"] += 1
        ftype = first(fields, "feedback-type").lower()
        reporter = email.utils.parseaddr(str(msg.get("From", "")))[1].lower()
        ip = first(fields, "source-ip")
        try:
            ip = ipaddress.ip_address(ip.split()[0]).compressed if ip else None
        except ValueError:
            ip = None
        date = first(fields, "arrival-date") or first(fields, "received-date")
        try:
            arrival = email.utils.parsedate_to_datetime(date).isoformat() if date else ""
        except (TypeError, ValueError):
            arrival = date
        msgid = str(orig.get("Message-ID", "")).strip() if orig is not None else ""
        key = msgid or first(fields, "original-envelope-id") or ""
        identity = identity_of(orig, fields)
        sender = (first(fields, "original-mail-from") or "").strip("<> ").lower()
        if not sender and orig is not None:
            sender = email.utils.parseaddr(str(orig.get("From", "")))[1].lower()
        customer_id, how = resolve(cust, identity, sender or None, ip)
        n["unresolved"] += customer_id is None
        cur = db.execute("INSERT OR IGNORE INTO events (raw_id, reporter, feedback_type, message_key, source_ip, arrival,"
                         " identity, sender, customer_id, resolved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (raw_id, reporter, ftype, key, ip or "", arrival, identity, sender, customer_id, how))
        if cur.rowcount == 0:
            n["duplicate_events"] += 1
            continue
        n["events"] += 1
        event_id = cur.lastrowid
        subject = identity or sender or ip or "unknown"
        ticket_id, count = db.execute(
            "INSERT INTO tickets (customer_id, subject, class, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (COALESCE(customer_id, 0), subject, class) WHERE status = 'open'"
            " DO UPDATE SET event_count = event_count + 1, last_seen = max(last_seen, excluded.last_seen)"
            " RETURNING id, event_count", (customer_id, subject, ftype, arrival, arrival)).fetchone()
        n["new_tickets" if count == 1 else "updated_tickets"] += 1
        db.execute("UPDATE events SET ticket_id = ? WHERE id = ?", (ticket_id, event_id))
    db.commit()
    db.close()
    dt = time.monotonic() - t0
    n.update(seconds=round(dt, 2), reports_per_s=round(n["reports"] / dt, 1), mb_per_s=round(nbytes / dt / 1e6, 2))
    print(json.dumps(n))


if __name__ == "__main__":
    main()
