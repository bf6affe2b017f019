#!/usr/bin/env python3
"""Synthetic ARF corpus for the abuse-desk ingest benchmark (Python 3.11, stdlib only).

    python3 gen_corpus.py --count 100000 --out /tmp/ingest-100k [--seed 1] [--customers 2000]

Writes, deterministically for a seed:
  OUT/customers.csv    external_id,name,email,identities,domains,netblocks (lists ';'-separated)
  OUT/mail/NNN/*.eml   --count messages, at most 1000 per folder, in generation order:
                       ~60% SpamExperts outgoing-filter reports (CRLF, byte layout of
                       corpus/arf/abuseio__spamexperts-1.eml, Feedback-Type last without line end),
                       ~30% third-party FBLs (AOL / Yahoo / ReturnPath style, LF),
                       ~10% text/rfc822-headers variants (ReturnPath abuse, OpenDMARC auth-failure),
                       plus ~5% exact re-deliveries, ~1% re-sent complaints (new outer
                       Message-Id/Date, same report) and ~0.5% junk that must be quarantined.
  OUT/manifest.json    the totals an importer must reproduce (see README-style notes in
                       the "notes" key of the manifest itself).

Ground truth used for the manifest (the contract an importer is checked against):
  * duplicate  = same sha256 of the raw bytes as an earlier file;
  * event key  = (reporter = outer From address, Feedback-Type, original Message-ID else
                 Original-Envelope-Id, Source-IP normalised, Arrival-Date/Received-Date or none);
  * identity   = X-AuthUser | X-SpamExperts-Username@X-SpamExperts-Domain | smtp.auth=;
  * customer   = identity -> sender domain (Original-Mail-From else From; parent walk)
                 -> most specific netblock holding Source-IP -> unresolved;
  * ticket     = (customer or none, subject, Feedback-Type); subject = identity else sender
                 address else Source-IP (all lower-case, IPs in compressed form).
"""
import argparse
import base64
import bisect
import calendar
import csv
import hashlib
import io
import ipaddress
import itertools
import json
import os
import random
import re
import sys
import time
import zipfile

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

WORDS = """free offer limited time exclusive deal discount cheap pills viagra casino bonus winner
prize claim now urgent account verify password bank transfer bitcoin investment profit guaranteed
risk opportunity million dollars inheritance beneficiary lottery congratulations selected click here
unsubscribe dear friend customer valued member special promotion sale percent off order today shipping
delivery package tracking invoice payment overdue refund tax rebate loan credit score approved mortgage
rate lowest price best quality replica watches handbags sunglasses weight loss diet supplement natural
enlargement dating singles meet local ladies hot photos private message waiting your inbox security
alert suspended login confirm details within hours otherwise closed permanently support team regards
the of and to in for with on at by from this that you your our we are is be will can as an or not""".split()
TLDS_FOREIGN = ("test", "invalid")
COMPANY = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell",
           "Cyberdyne", "Soylent", "Vandelay", "Pied Piper", "Dunder", "Oscorp", "Gringotts")
SUFFIX = ("GmbH", "Ltd", "LLC", "BV", "Inc", "AG", "SARL", "Hosting", "Media", "Shop")
FIRST = ("anna", "ben", "carla", "dave", "eva", "frank", "gina", "hugo", "ines", "jan", "kim",
         "lars", "mia", "nils", "olga", "paul", "rosa", "sven", "tina", "uwe")
LAST = ("smith", "meyer", "garcia", "rossi", "novak", "berg", "kowalski", "dubois", "jansen", "silva")
MAILERS = ("PHPMailer 6.8.0 (https://github.com/PHPMailer/PHPMailer)", "Microsoft Outlook 16.0",
           "Mozilla Thunderbird", "swaks v20240103.0 jetmore.org/john/code/swaks/", "Roundcube Webmail/1.6.5")
SPAM_SUBJECTS = ("Your account has been suspended", "Final notice: invoice {n} overdue",
                 "Congratulations, you have been selected", "Cheap meds without prescription",
                 "Re: your order #{n}", "Claim your {n} USD bonus now", "Security alert for your mailbox",
                 "Meet hot singles near you", "Investment opportunity - {n}% monthly return",
                 "Delivery failed: package {n} waiting", "Urgent: verify your password")


def b62(n, width):
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


def fmt_date(ts, off_min=0, zone=None, style="num"):
    """RFC 5322 date for unix time ts shown in a zone of off_min minutes east of UTC."""
    t = time.gmtime(ts + off_min * 60)
    base = "%s, %02d %s %04d %02d:%02d:%02d" % (DAYS[t.tm_wday], t.tm_mday, MONTHS[t.tm_mon - 1],
                                               t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
    if style == "utcname":
        return base + " UTC"
    if style == "minus0":
        return base + " -0000"
    sign = "+" if off_min >= 0 else "-"
    a = abs(off_min)
    s = "%s %s%02d%02d" % (base, sign, a // 60, a % 60)
    return s + (" (%s)" % zone if zone else "")


class Pools:
    """Big pre-generated text / HTML / base64 strings; message bodies are line-aligned slices."""

    def __init__(self, rng):
        self.rng = rng
        lines = []
        for _ in range(14000):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
            line = " ".join(words)
            if rng.random() < 0.2:
                line = line.capitalize() + "."
            lines.append(line[:76])
            if rng.random() < 0.12:
                lines.append("")
        self.text = {"\n": "\n".join(lines) + "\n"}
        html = []
        for i in range(9000):
            w = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9)))
            r = rng.random()
            if r < 0.3:
                html.append('<p style="font-family:Arial;font-size:14px;color:#333">%s</p>' % w)
            elif r < 0.55:
                html.append('<a href="http://promo%d.test/c/%s?id=%d">%s</a><br>'
                            % (rng.randint(1, 999), b62(rng.getrandbits(40), 7), rng.getrandbits(24), w))
            elif r < 0.7:
                html.append('<td align="center" bgcolor="#f4f4f4"><img src="http://cdn%d.test/%s.png" '
                            'width="600" alt="%s"></td>' % (rng.randint(1, 99), b62(rng.getrandbits(40), 8), w))
            else:
                html.append("<div>%s</div>" % w)
        self.html = {"\n": "\n".join(html) + "\n"}
        raw = rng.randbytes(900_000)
        self.b64 = {"\n": base64.encodebytes(raw).decode("ascii")}
        for d in (self.text, self.html, self.b64):
            d["\r\n"] = d["\n"].replace("\n", "\r\n")

    def slice(self, pool, nl, need):
        s = pool[nl]
        need = max(need, 1)
        start = self.rng.randrange(0, len(s) - need - 200)
        start = s.find(nl, start) + len(nl)
        end = s.find(nl, start + need)
        if end < 0:
            end = len(s) - len(nl)
        return s[start:end + len(nl)]


class World:
    """Customers, their identities / domains / netblocks, and the spam sources drawn from them."""

    def __init__(self, rng, n_customers):
        if not 1 <= n_customers <= 4000:
            sys.exit("--customers must be between 1 and 4000")
        self.rng = rng
        self.customers = []          # dicts, in order
        self.identity_owner = {}     # identity -> external_id
        self.domain_owner = {}       # domain -> external_id
        self.net_owner = {}          # (version, prefixlen, network int) -> external_id
        self.prefixes = {4: set(), 6: set()}
        for i in range(1, n_customers + 1):
            ext = "CUST-%05d" % i
            dom = "customer%d.example" % i
            domains = [dom]
            if rng.random() < 0.3:
                domains.append("%s-shop%d.example" % (rng.choice(COMPANY).lower().replace(" ", ""), i))
            v4 = ipaddress.ip_network("10.%d.%d.0/20" % ((i >> 4) & 255, (i & 15) << 4))
            nets = [v4]
            if i % 10 == 3 and i > 1:   # reseller sub-allocation inside the previous customer's /20
                prev = ipaddress.ip_network("10.%d.%d.0/20" % (((i - 1) >> 4) & 255, ((i - 1) & 15) << 4))
                nets.append(ipaddress.ip_network("%s/26" % (prev.network_address + 8 * 256 + 64)))
            if i % 4 == 0:
                nets.append(ipaddress.ip_network("2001:db8:%x::/48" % i))
            if i % 40 == 21:            # IPv6 sub-allocation inside customer i-1's /48
                nets.append(ipaddress.ip_network("2001:db8:%x:100::/56" % (i - 1)))
            idents = []
            for _ in range(1 + min(int(rng.expovariate(0.6)), 9)):
                r = rng.random()
                d = rng.choice(domains)
                if r < 0.45:
                    ident = "user%d@%s" % (rng.randint(1, 999), d)
                elif r < 0.7:
                    ident = "%s.%s@%s" % (rng.choice(FIRST), rng.choice(LAST), d)
                elif r < 0.8:
                    ident = "%s@%s" % (rng.choice(("info", "sales", "office", "newsletter", "shop")), d)
                else:   # SpamExperts "<ip>@<domain>" style identity
                    ident = "%s@%s" % (v4.network_address + rng.randint(2, 250), d)
                if ident not in self.identity_owner:
                    self.identity_owner[ident] = ext
                    idents.append(ident)
            for d in domains:
                self.domain_owner[d] = ext
            for n in nets:
                self.net_owner[(n.version, n.prefixlen, int(n.network_address))] = ext
                self.prefixes[n.version].add(n.prefixlen)
            self.customers.append({
                "external_id": ext, "name": "%s %s #%d" % (rng.choice(COMPANY), rng.choice(SUFFIX), i),
                "email": "noc@%s" % dom, "identities": idents, "domains": domains, "nets": nets})
        self.plens = {v: sorted(p, reverse=True) for v, p in self.prefixes.items()}
        self.build_sources()

    # --- ground-truth resolution, mirrors DESIGN.md step 4 ---
    def owner_of_ip(self, ip):
        a = ipaddress.ip_address(ip)
        bits = 32 if a.version == 4 else 128
        n = int(a)
        for plen in self.plens[a.version]:
            key = (a.version, plen, (n >> (bits - plen)) << (bits - plen))
            if key in self.net_owner:
                return self.net_owner[key]
        return None

    def owner_of_domain(self, domain):
        labels = domain.lower().split(".")
        for k in range(len(labels) - 1):
            c = self.domain_owner.get(".".join(labels[k:]))
            if c:
                return c
        return None

    def resolve(self, identity, sender, ip):
        if identity and identity.lower() in self.identity_owner:
            return self.identity_owner[identity.lower()], "identity"
        if sender and "@" in sender:
            c = self.owner_of_domain(sender.rsplit("@", 1)[1])
            if c:
                return c, "domain"
        if ip:
            c = self.owner_of_ip(ip)
            if c:
                return c, "netblock"
        return None, "unresolved"

    # --- spam sources ---
    def ext_ip(self, v6=False):
        r = self.rng
        if v6:
            return "2001:db8:ffff:%x::%x" % (r.randint(1, 0xfff), r.randint(1, 0xffff))
        return "198.%d.%d.%d" % (r.randint(18, 19), r.randint(0, 255), r.randint(1, 254))

    def cust_ip(self, c, v6_ok=True):
        r = self.rng
        nets = c["nets"]
        v6 = [n for n in nets if n.version == 6]
        if v6 and v6_ok and r.random() < 0.25:
            n = r.choice(v6)
            return str(n.network_address + r.randint(1, 0xffff) + (r.randint(0, 255) << 64))
        v4 = [n for n in nets if n.version == 4]
        n = v4[-1] if len(v4) > 1 and r.random() < 0.5 else v4[0]   # favour sub-allocations
        return str(n.network_address + r.randint(1, n.num_addresses - 2))

    def local(self):
        r = self.rng.random()
        if r < 0.4:
            return "%s.%s" % (self.rng.choice(FIRST), self.rng.choice(LAST))
        if r < 0.7:
            return self.rng.choice(("info", "news", "noreply", "sales", "promo", "billing", "support"))
        return "%s%d" % (self.rng.choice(FIRST), self.rng.randint(1, 9999))

    def build_sources(self):
        r = self.rng
        cs = self.customers
        P = {}
        se = []
        for c in cs:
            for ident in c["identities"]:
                loc, dom = ident.split("@")
                try:
                    ipaddress.ip_address(loc)
                    ip, frm = loc, "%s@%s" % (self.local(), dom)
                except ValueError:
                    ip = self.ext_ip(r.random() < 0.2) if r.random() < 0.1 else self.cust_ip(c)
                    frm = ident
                se.append({"identity": ident, "from": frm, "ip": ip})
        P["se_identity"] = se
        P["se_domain"] = []         # identity unknown to the CSV, sender domain is a customer's
        for n in range(400):
            c = r.choice(cs)
            ident = "new-user%d@%s" % (n, r.choice(c["domains"]))
            P["se_domain"].append({"identity": ident, "from": ident, "ip": self.ext_ip()})
        P["se_unresolved"] = []
        for n in range(150):
            ident = "%s@nothosted%d.example" % (self.local(), n)
            P["se_unresolved"].append({"identity": ident, "from": ident, "ip": self.ext_ip(r.random() < 0.2)})
        P["fbl_domain"] = []        # sender domain (often a subdomain) is a customer's, IP is not
        for n in range(1500):
            c = r.choice(cs)
            d = r.choice(c["domains"])
            if n % 3 == 0:
                d = r.choice(("mail.", "news.", "mx1.", "m.bulk.", "em.campaigns.")) + d
            P["fbl_domain"].append({"identity": None, "from": "%s@%s" % (self.local(), d), "ip": self.ext_ip()})
        P["fbl_domain_net"] = []    # sender domain and IP both the customer's (domain wins)
        for n in range(1500):
            c = r.choice(cs)
            P["fbl_domain_net"].append({"identity": None, "from": "%s@%s" % (self.local(), r.choice(c["domains"])),
                                        "ip": self.cust_ip(c)})
        P["fbl_netblock"] = []      # forged/foreign sender domain, IP in a customer netblock
        for n in range(1500):
            c = r.choice(cs)
            P["fbl_netblock"].append({"identity": None, "ip": self.cust_ip(c),
                                      "from": "%s@%s%d.%s" % (self.local(), r.choice(("deals", "promo", "secure-login", "parcel")),
                                                              n, r.choice(TLDS_FOREIGN))})
        P["fbl_unresolved"] = []
        for n in range(300):
            P["fbl_unresolved"].append({"identity": None, "ip": self.ext_ip(r.random() < 0.15),
                                        "from": "%s@bulk%d.%s" % (self.local(), n, r.choice(TLDS_FOREIGN))})
        # Zipf(s=1.1) over each shuffled pool: a few sources send most of the spam
        self.pools = {}
        for k, pool in P.items():
            r.shuffle(pool)
            cum, acc = [], 0.0
            for rank in range(1, len(pool) + 1):
                acc += rank ** -1.1
                cum.append(acc)
            self.pools[k] = (pool, cum)

    def pick(self, kind):
        pool, cum = self.pools[kind]
        return pool[bisect.bisect_left(cum, self.rng.random() * cum[-1])]

    def write_csv(self, path):
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["external_id", "name", "email", "identities", "domains", "netblocks"])
            for c in self.customers:
                w.writerow([c["external_id"], c["name"], c["email"], ";".join(c["identities"]),
                            ";".join(c["domains"]), ";".join(str(n) for n in c["nets"])])


def weighted(rng, table):
    x = rng.random() * sum(w for _, w in table)
    for k, w in table:
        x -= w
        if x < 0:
            return k
    return table[-1][0]


class Gen:
    def __init__(self, args):
        self.rng = rng = random.Random(args.seed)
        self.world = World(rng, args.customers)
        self.pools = Pools(rng)
        self.end = calendar.timegm(time.strptime(args.end, "%Y-%m-%d"))
        self.start = self.end - 30 * 86400
        self.count = args.count
        self.seq = itertools.count(1)
        self.isp = "isp.example.net"

    def uid(self):
        return next(self.seq)

    def exim_id(self, ts):
        return "%s-%s-%s" % (b62(ts, 6), b62(self.uid() * 7919 + self.rng.getrandbits(12), 6),
                             b62(self.rng.getrandbits(11), 2))

    def folded_b64(self, n_lines, nl, indent):
        s = self.pools.slice(self.pools.b64, "\n", 76 * n_lines).replace("\n", "")
        return (nl + indent).join(s[i:i + 76] for i in range(0, len(s), 76))

    def subject(self):
        s = self.rng.choice(SPAM_SUBJECTS).format(n=self.rng.randint(100, 99999))
        if self.rng.random() < 0.1:
            return "=?UTF-8?B?%s?=" % base64.b64encode(("\u2605 " + s).encode()).decode()
        return s

    def body(self, need, nl):
        """MIME headers + body of the original message, about `need` bytes."""
        r, p = self.rng, self.pools
        bnd = "----=_Part_%d_%d.%d" % (r.getrandbits(20), r.getrandbits(30), self.uid())
        kind = r.random()
        if need < 1500 or kind < 0.4:
            return ("MIME-Version: 1.0" + nl + "Content-Type: text/plain; charset=us-ascii" + nl +
                    "Content-Transfer-Encoding: 7bit" + nl + nl + p.slice(p.text, nl, need - 110))
        if kind < 0.7:
            half = (need - 400) // 2
            html = p.slice(p.html, nl, half)
            if r.random() < 0.35:
                html = base64.encodebytes(html.encode()).decode().replace("\n", nl)
                html_h = "Content-Type: text/html; charset=utf-8" + nl + "Content-Transfer-Encoding: base64"
            else:
                html_h = "Content-Type: text/html; charset=us-ascii" + nl + "Content-Transfer-Encoding: 7bit"
            return nl.join(("MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="%s"' % bnd, "",
                            "--" + bnd, "Content-Type: text/plain; charset=us-ascii",
                            "Content-Transfer-Encoding: 7bit", "", p.slice(p.text, nl, half),
                            "--" + bnd, html_h, "", html, "--" + bnd + "--", ""))
        if kind < 0.9:
            text = p.slice(p.text, nl, min(2000, need // 4))
            att = p.slice(p.b64, nl, need - len(text) - 450)
            ctype, name = r.choice((("application/pdf", "invoice_%d.pdf"), ("image/jpeg", "photo_%d.jpg"),
                                    ("application/zip", "document_%d.zip")))
            name = name % r.randint(1000, 99999)
            return nl.join(("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="%s"' % bnd, "",
                            "--" + bnd, "Content-Type: text/plain; charset=us-ascii", "", text,
                            "--" + bnd, '%s; name="%s"' % ("Content-Type: " + ctype, name),
                            "Content-Transfer-Encoding: base64",
                            'Content-Disposition: attachment; filename="%s"' % name, "", att,
                            "--" + bnd + "--", ""))
        html = p.slice(p.html, "\n", int((need - 150) * 0.74))
        return ("MIME-Version: 1.0" + nl + "Content-Type: text/html; charset=utf-8" + nl +
                "Content-Transfer-Encoding: base64" + nl + nl +
                base64.encodebytes(html.encode()).decode().replace("\n", nl))

    def target_size(self, lo=3000, hi=40000):
        return int(lo * (hi / lo) ** self.rng.random())

    # ---------- our outgoing filter (SpamExperts layout, CRLF) ----------
    def spamexperts(self, ts, src):
        r = self.rng
        nl = "\r\n"
        filt = "filter%d.mx.%s" % (r.randint(1, 4), self.isp)
        fdom = "mx." + self.isp
        ident, frm, ip = src["identity"], src["from"], src["ip"]
        ip_shown = ip
        if ":" in ip and r.random() < 0.3:          # like spamexperts-11: uncompressed IPv6
            ip_shown = ":".join(x.lstrip("0") or "0" for x in ipaddress.ip_address(ip).exploded.split(":"))
        envid = self.exim_id(ts - 30)
        outer_id = self.exim_id(ts)
        rcpt = "%s%d@%s" % (r.choice(FIRST), r.randint(1, 99999), r.choice(("gmail.test", "web.test", "yahoo.test", "mailbox.test")))
        subj = self.subject()
        d_orig = fmt_date(ts - 37, 120)
        d_out = fmt_date(ts, -360)
        msgid = "%s.%d@%s" % (b62(r.getrandbits(60), 10), self.uid(), frm.split("@")[1])
        loc, dom = ident.split("@")
        if r.random() < 0.5:
            idh = "X-AuthUser: " + ident
        else:
            idh = "X-SpamExperts-Domain: %s%sX-SpamExperts-Username: %s" % (dom, nl, loc)
        bnum = "%019d" % r.getrandbits(62)
        b = "===============%s==" % bnum
        head = nl.join((
            "Return-Path: <>",
            "Delivered-To: abuse@" + self.isp,
            "Received: from %s (%s [%s])" % (filt, filt, "192.0.2.%d" % r.randint(10, 20)),
            "        by mail.%s (Postfix) with ESMTPS id %X" % (self.isp, r.getrandbits(40)),
            "        for <abuse@%s>; %s" % (self.isp, fmt_date(ts + 1, 0)),
            "Received: from root by %s with local-spamexperts-generated (Exim 4.85)" % filt,
            "\tid " + outer_id,
            "\tfor abuse@%s; %s" % (self.isp, d_out),
            'Content-Type: multipart/report; report-type="feedback-report";',
            ' boundary="%s"' % b,
            "MIME-Version: 1.0",
            "Subject: " + subj,
            "From: admin@" + filt,
            "To: abuse@" + self.isp,
            "Date: " + d_out,
            "Message-Id: <E%s@%s>" % (outer_id, filt),
            "",
            "This is a multi-part message in MIME format.",
            "--" + b,
            'Content-Type: text/plain; charset="us-ascii"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 7bit",
            "",
            "This is an abuse report message in ARF format; for format details see RFC 5965, http://tools.ietf.org/html/rfc5965",
            "",
            "The following message, which is from one of your users, '%s' arrived at %s and looks like spam, unsolicited bulk e-mail." % (ident, d_out),
            "",
            "--" + b,
            "Content-Type: message/feedback-report",
            "MIME-Version: 1.0",
            "",
            "User-Agent: SpamExperts/88068",
            "Version: 1",
            "Original-Envelope-Id: " + envid,
            "Original-Mail-From: " + frm,
            "Arrival-Date: " + fmt_date(ts, style="minus0"),
            "Source-IP: " + ip_shown,
            "Original-Rcpt-To: <%s>" % rcpt,
            "Authentication-Results: %s; auth=pass smtp.auth=%s" % (fdom, ident),
            "Feedback-Type: abuse",            # no line end before the boundary, as the filter does
            "--" + b,
            "Content-Type: message/rfc822",
            "MIME-Version: 1.0",
            "Content-Disposition: inline",
            "",
            "Received: from %s ([%s])" % (r.choice(("localhost", "[192.168.1.%d]" % r.randint(2, 200), "DESKTOP-%X" % r.getrandbits(24), "webmail")), ip_shown),
            " by %s with esmtpa (Exim 4.85)" % filt,
            " (envelope-from <%s>) id %s" % (frm, envid),
            " for %s; %s" % (rcpt, fmt_date(ts - 30, -360)),
            "Date: " + d_orig,
            "To: " + rcpt,
            "From: " + frm,
            "Subject: " + subj,
            "X-Mailer: " + r.choice(MAILERS),
            "Message-ID: <%s>" % msgid,
            "X-Filter-ID: " + self.folded_b64(r.randint(4, 10), nl, " "),
            "X-Report-Abuse-To: spam@" + filt,
            "X-Originating-IP: " + ip_shown,
            idh,
            "Authentication-Results: %s;" % fdom,
            " auth=pass smtp.auth=" + ident,
            "X-SpamExperts-Outgoing-Class: spam",
            "X-SpamExperts-Outgoing-Evidence: Combined (%.2f)" % (0.8 + r.random() / 5),
            "",
        ))
        tail = nl + "--" + b + "--" + nl
        need = self.target_size() - len(head) - len(tail)
        report = {"reporter": "admin@" + filt, "type": "abuse", "msgid": msgid, "ip": ip, "arrival": ts,
                  "identity": ident, "sender": frm}
        return head + self.body(need, nl) + tail, report

    # ---------- third-party feedback loops (LF) ----------
    def fbl(self, ts, src, headers_only=False):
        r, nl = self.rng, "\n"
        frm, ip = src["from"], src["ip"]
        sender_dom = frm.split("@")[1]
        style = weighted(r, (("aol", 3), ("yahoo", 2), ("returnpath", 5)))
        if headers_only:
            style = "returnpath"
        subj = self.subject()
        arr = ts
        outer_ts = ts + r.randint(60, 4 * 3600)
        msgid = "%s.%d@%s" % (b62(r.getrandbits(60), 10), self.uid(), sender_dom)
        helo = "mail.%s" % sender_dom if r.random() < 0.7 else "srv%d.hosting.test" % r.randint(1, 500)
        b = "boundary-%d-%d-%d" % (r.getrandbits(12), r.getrandbits(16), self.uid())
        mbox = ""
        omf = frm
        if style == "aol":
            reporter, ua = "scomp@aol.net", "AOL SComp"
            rdom = "aol.com"
            fields = ["Feedback-Type: abuse", "User-Agent: AOL SComp", "Version: 0.1",
                      "Received-Date: " + fmt_date(arr, -300, "EST"), "Source-IP: " + ip,
                      "Reported-Domain: " + sender_dom, "Redacted-Address: redacted", "Redacted-Address: redacted@"]
            outer_subject = "Email Feedback Report for IP " + ip
            extra_outer = ["X-AOL-INRLY: %s [%s] scmp-m%03d" % (helo, ip, r.randint(1, 20)), "X-Loop: scomp"]
            human = ("This is an email abuse report for an email message with the message-id of %s received from IP address %s on %s"
                     % (msgid, ip, fmt_date(arr, -300, "EST")))
            if r.random() < 0.5:
                mbox = "From scomp@aol.net %s\n" % time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(outer_ts))
            rcpt_hdr = "To: redacted@aol.com"
            omf = None      # AOL sends no Original-Mail-From; sender comes from the original's From
        elif style == "yahoo":
            reporter, ua = "feedback@arf.mail.yahoo.com", "Yahoo!-Mail-Feedback/2.0"
            rdom = "yahoo.com"
            fields = ["Feedback-Type: abuse", "User-Agent: " + ua, "Version: 0.1",
                      "Original-Mail-From: <%s>" % frm, "Original-Rcpt-To: redacted@yahoo.com",
                      "Received-Date: " + fmt_date(arr, style="utcname"), "Source-IP: " + ip]
            outer_subject = "FW:" + subj
            extra_outer = ["X-Yahoo-Newman-Property: cfl"]
            human = "This is an email abuse report for an email message received from %s  on %s" % (ip, fmt_date(arr, style="utcname"))
            rcpt_hdr = "To: redacted@yahoo.com"
        else:
            isp = r.choice(("comcast", "cox", "fastmail", "roadrunner", "synacor", "bluetie"))
            reporter, ua = "feedbackloop@%sfbl.senderscore.net" % isp, "ReturnPathFBL/2.0"
            rdom = isp + ".net"
            rcpt = "%032x@%s" % (r.getrandbits(128), rdom)
            fields = ["User-Agent: " + ua, "Abuse-Type: complaint", "Arrival-Date: " + fmt_date(arr, 0),
                      "Feedback-Type: abuse", "Version: 1", "Source-IP: " + ip]
            if r.random() < 0.7:
                fields.append("Original-Rcpt-To: " + (rcpt if r.random() < 0.5 else "redacted@" + rdom))
            fields += ["Original-Mail-From: " + frm, "Reported-Domain: " + rdom, "Source: " + isp.capitalize()]
            if r.random() < 0.4:
                fields.append("Subscription-Link: https://fbl.validity.com/subscriptions/%d" % r.randint(1000, 99999))
            outer_subject = "%s Abuse Report" % isp.capitalize()
            extra_outer = ["X-Mailer: MIME::Lite 3.029 (F2.84; T2.04; A2.12; B3.13; Q3.13)"]
            human = "This is a %s email abuse report for an email message received from IP %s on %s" % (isp.capitalize(), ip, fmt_date(arr, 0))
            rcpt_hdr = "To: " + rcpt
        orig_hdrs = [
            "Return-Path: <%s>" % frm,
            "Received: from %s (%s [%s])" % (helo, helo, ip),
            "\tby mx%d.%s (Internet Inbound) with ESMTPS id %X" % (r.randint(1, 9), rdom, r.getrandbits(44)),
            "\tfor <redacted>; %s" % fmt_date(arr, 0),
            "Authentication-Results: mx.%s;" % rdom,
            "\tspf=pass smtp.mailfrom=%s; dkim=none" % sender_dom,
            "Message-ID: <%s>" % msgid,
            "From: \"%s\" <%s>" % (r.choice(COMPANY), frm),
            rcpt_hdr,
            "Subject: " + subj,
            "Date: " + fmt_date(arr - 5, 60),
            "X-Mailer: " + r.choice(MAILERS),
        ]
        head = nl.join([
            "Return-Path: <fblbounces@%s>" % reporter.split("@")[1],
            "Received: from mx.%s (mx.%s [192.0.2.%d])" % (reporter.split("@")[1], reporter.split("@")[1], r.randint(30, 60)),
            "\tby mail.%s (Postfix) with ESMTPS id %X" % (self.isp, r.getrandbits(40)),
            "\tfor <abuse@%s>; %s" % (self.isp, fmt_date(outer_ts + 2, 60, "CET")),
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=%s;" % reporter.split("@")[1],
            "\ts=fbl; t=%d; bh=%s" % (outer_ts, base64.b64encode(r.randbytes(32)).decode()),
            "\tb=" + self.folded_b64(3, nl, "\t "),
            "To: abuse@" + self.isp,
            "From: " + reporter,
            "Date: " + fmt_date(outer_ts, -300 if style == "aol" else 0),
            "Subject: " + outer_subject,
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=feedback-report; boundary="%s"' % b,
        ] + extra_outer + [
            "Message-Id: <%d.%X@%s>" % (outer_ts, r.getrandbits(40), reporter.split("@")[1]),
            "",
            "--" + b,
            'Content-Type: text/plain; charset="US-ASCII"',
            "Content-Transfer-Encoding: 7bit",
            "",
            human,
            "",
            "--" + b,
            "Content-Disposition: inline",
            "Content-Type: message/feedback-report",
            "",
        ] + fields + [
            "",
            "--" + b,
        ])
        report = {"reporter": reporter, "type": "abuse", "msgid": msgid, "ip": ip, "arrival": arr,
                  "identity": None, "sender": omf or frm}
        if headers_only:
            pad = []
            goal = self.target_size(3000, 9000) - len(head) - 600
            hop = 0
            while sum(map(len, pad)) < goal:     # relay chains and ARC seals make header blocks big
                hop += 1
                pad.append("ARC-Seal: i=%d; a=rsa-sha256; t=%d; cv=pass; d=%s; s=arc;\n\tb=%s"
                           % (hop, arr + hop, rdom, self.folded_b64(4, nl, "\t ")))
                pad.append("Received: from relay%d.%s (relay%d.%s [198.51.100.%d])\n\tby relay%d.%s with ESMTP id %X;\n\t%s"
                           % (hop, rdom, hop, rdom, r.randint(1, 254), hop + 1, rdom, r.getrandbits(40), fmt_date(arr + hop, 0)))
            return nl.join([mbox + head, "Content-Type: text/rfc822-headers", "Content-Disposition: inline", ""]
                           + pad[::-1] + orig_hdrs + ["", "--" + b + "--", ""]), report
        head = mbox + head + nl + nl.join(["Content-Type: message/rfc822", "Content-Disposition: inline", ""] + orig_hdrs) + nl
        tail = nl + "--" + b + "--" + nl
        need = self.target_size() - len(head) - len(tail)
        return head + self.body(need, nl) + tail, report

    def opendmarc(self, ts, src, no_from):
        """OpenDMARC auth-failure report with text/rfc822-headers (as mail-auth__004.eml)."""
        r, nl = self.rng, "\n"
        frm, ip = src["from"], src["ip"]
        sdom = frm.split("@")[1]
        rhost = "box%d.receiver%d.test" % (r.randint(1, 9), r.randint(1, 200))
        qid = "%X" % r.getrandbits(40)
        b = "%s:%s" % (rhost, qid)
        msgid = "%s.%d@%s" % (b62(r.getrandbits(60), 10), self.uid(), sdom)
        outer_ts = ts + r.randint(1, 30)
        subj = self.subject()
        fields = ["Feedback-Type: auth-failure", "Version: 1", "User-Agent: OpenDMARC-Filter/1.4.2",
                  "Auth-Failure: dmarc",
                  "Authentication-Results: %s; dmarc=fail header.from=%s" % (rhost, sdom),
                  "Original-Envelope-Id: " + qid]
        if not no_from:
            fields.append("Original-Mail-From: " + frm)
        fields += ["Source-IP: %s (%s)" % (ip, "mail." + sdom), "Reported-Domain: " + sdom]
        hdrs = ["Received: from mail.%s (mail.%s [%s])" % (sdom, sdom, ip),
                "\tby %s (Postfix) with ESMTP id %s" % (rhost, qid),
                "\tfor <%s%d@%s>; %s" % (r.choice(FIRST), r.randint(1, 999), rhost, fmt_date(ts, 0))]
        if not no_from:
            hdrs += ["DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=default;" % sdom,
                     "\tb=" + self.folded_b64(r.randint(6, 30), nl, "\t "),
                     'From: "%s" <%s>' % (r.choice(COMPANY), frm)]
        hdrs += ["Subject: " + subj, "Message-ID: <%s>" % msgid, "Date: " + fmt_date(ts - 9, 120),
                 "MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="%X"' % r.getrandbits(64)]
        msg = nl.join([
            "Return-Path: <opendmarc@%s>" % rhost,
            "Received: by %s (Postfix, from userid 116)" % rhost,
            "\tid %X; %s" % (r.getrandbits(40), fmt_date(outer_ts, 780, "NZDT")),
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=%s;" % rhost,
            "\ts=mail; t=%d;" % outer_ts,
            "\tb=" + self.folded_b64(r.randint(4, 40), nl, "\t "),
            "From: OpenDMARC Filter <opendmarc@%s>" % rhost,
            "To: dmarc-ruf@" + self.isp,
            "Date: " + fmt_date(outer_ts, 780, "NZDT"),
            "Subject: FW: " + subj,
            "MIME-Version: 1.0",
            "Content-Type: multipart/report;",
            "\treport-type=feedback-report;",
            '\tboundary="%s"' % b,
            "Message-Id: <%d.%s@%s>" % (outer_ts, qid, rhost),
            "",
            "--" + b,
            "Content-Type: text/plain",
            "",
            "This is an authentication failure report for an email message received from IP",
            "%s on %s." % (ip, fmt_date(ts, 780, "NZDT")),
            "",
            "--" + b,
            "Content-Type: message/feedback-report",
            "",
        ] + fields + ["", "--" + b, "Content-Type: text/rfc822-headers", ""] + hdrs + ["", "--" + b + "--", ""])
        report = {"reporter": "opendmarc@" + rhost, "type": "auth-failure", "msgid": msgid, "ip": ip,
                  "arrival": None, "identity": None, "sender": None if no_from else frm}
        return msg, report

    # ---------- junk (must be quarantined) ----------
    def junk(self, ts):
        r = self.rng
        kind = weighted(r, (("plain", 4), ("dmarc_aggregate", 3), ("bounce", 2), ("autoreply", 1)))
        frm = "%s@%s" % (self.world.local(), r.choice(("gmail.test", "web.test", "customer%d.example" % r.randint(1, 50))))
        mid = "<%X.%d@%s>" % (r.getrandbits(48), self.uid(), frm.split("@")[1])
        common = ["From: " + frm, "To: abuse@" + self.isp, "Date: " + fmt_date(ts, 60), "Message-ID: " + mid]
        if kind == "plain":
            return "\n".join(common + ["Subject: Stop sending me spam!!", "MIME-Version: 1.0",
                                       "Content-Type: text/plain; charset=utf-8; format=flowed", "",
                                       "I keep getting spam from your network, see below. Please make it stop.", "",
                                       self.pools.slice(self.pools.text, "\n", r.randint(500, 4000))]), kind
        if kind == "autoreply":
            return "\n".join(common + ["Subject: Automatic reply: Abuse report", "Auto-Submitted: auto-replied",
                                       "Content-Type: text/plain; charset=us-ascii", "",
                                       "I am out of the office until Monday.", ""]), kind
        if kind == "bounce":
            b = "%X/%s" % (r.getrandbits(40), self.isp)
            return "\n".join(["From: MAILER-DAEMON@mail." + self.isp, "To: abuse@" + self.isp,
                              "Date: " + fmt_date(ts, 0), "Message-ID: " + mid,
                              "Subject: Undelivered Mail Returned to Sender", "MIME-Version: 1.0",
                              'Content-Type: multipart/report; report-type=delivery-status; boundary="%s"' % b, "",
                              "--" + b, "Content-Type: text/plain", "", "Your message could not be delivered.", "",
                              "--" + b, "Content-Type: message/delivery-status", "",
                              "Reporting-MTA: dns; mail." + self.isp, "", "Final-Recipient: rfc822; " + frm,
                              "Action: failed", "Status: 5.1.1", "",
                              "--" + b, "Content-Type: text/rfc822-headers", "",
                              "From: abuse@" + self.isp, "To: " + frm, "Subject: Abuse notice", "",
                              "--" + b + "--", ""]), kind
        org = r.choice(("google.com", "yahoo.com", "outlook.com", "mail.ru"))
        rid = "%d" % r.getrandbits(60)
        xml = ('<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>\n  <report_metadata>\n    <org_name>%s</org_name>\n'
               '    <report_id>%s</report_id>\n    <date_range><begin>%d</begin><end>%d</end></date_range>\n'
               '  </report_metadata>\n  <policy_published><domain>%s</domain><p>none</p></policy_published>\n'
               % (org, rid, ts - 86400, ts, self.isp))
        for _ in range(r.randint(3, 60)):
            xml += ('  <record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated><disposition>none'
                    '</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row></record>\n'
                    % (self.world.ext_ip(), r.randint(1, 500)))
        xml += "</feedback>\n"
        buf = io.BytesIO()
        name = "%s!%s!%d!%d.xml" % (org, self.isp, ts - 86400, ts)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            zi = zipfile.ZipInfo(name, date_time=time.gmtime(ts)[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, xml)
        b = "000000000000%x" % r.getrandbits(40)
        return "\n".join(["From: noreply-dmarc-support@" + org, "To: dmarc-rua@" + self.isp,
                          "Date: " + fmt_date(ts, 0), "Message-ID: " + mid,
                          "Subject: Report domain: %s Submitter: %s Report-ID: %s" % (self.isp, org, rid),
                          "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="%s"' % b, "",
                          "--" + b, "Content-Type: text/plain; charset=UTF-8", "", "This is an aggregate report from %s." % org, "",
                          "--" + b, 'Content-Type: application/zip; name="%s.zip"' % name,
                          'Content-Disposition: attachment; filename="%s.zip"' % name,
                          "Content-Transfer-Encoding: base64", "",
                          base64.encodebytes(buf.getvalue()).decode().rstrip("\n"),
                          "--" + b + "--", ""]), "dmarc_aggregate"

    # ---------- main loop ----------
    def run(self, out):
        r, w = self.rng, self.world
        os.makedirs(os.path.join(out, "mail"), exist_ok=True)
        w.write_csv(os.path.join(out, "customers.csv"))
        kinds = dict.fromkeys(("spamexperts", "fbl", "headers_only", "duplicate", "resend", "junk"), 0)
        sub = {}
        hashes = set()
        events = {}          # event key -> (customer, subject, class)
        resolution = dict.fromkeys(("identity", "domain", "netblock", "unresolved"), 0)
        total = 0
        recent_all, recent_fresh = [], []   # ring buffers of (bytes, report) for re-deliveries
        sizes = []
        step = 30 * 86400 / max(self.count, 1)
        for n in range(self.count):
            ts = int(self.start + n * step + r.random() * step)
            x = r.random()
            report = None
            if x < 0.005:
                text, jk = self.junk(ts)
                data = text.encode()
                kind = "junk"
                sub["junk_" + jk] = sub.get("junk_" + jk, 0) + 1
            elif x < 0.055 and recent_all:
                data, report = r.choice(recent_all)
                kind = "duplicate"
            elif x < 0.065 and recent_fresh:
                old, report = r.choice(recent_fresh)
                data = self.resend(old, ts)
                kind = "resend"
            else:
                y = r.random()
                if y < 0.6:
                    cat = weighted(r, (("se_identity", 95), ("se_domain", 3.5), ("se_unresolved", 1.5)))
                    text, report = self.spamexperts(ts, w.pick(cat))
                    kind = "spamexperts"
                elif y < 0.9:
                    cat = weighted(r, (("fbl_domain", 45), ("fbl_domain_net", 20), ("fbl_netblock", 29), ("fbl_unresolved", 6)))
                    text, report = self.fbl(ts, w.pick(cat))
                    kind = "fbl"
                else:
                    if r.random() < 0.5:
                        cat = weighted(r, (("fbl_domain", 45), ("fbl_domain_net", 20), ("fbl_netblock", 29), ("fbl_unresolved", 6)))
                        text, report = self.fbl(ts, w.pick(cat), headers_only=True)
                        sub["headers_only_returnpath"] = sub.get("headers_only_returnpath", 0) + 1
                    else:
                        no_from = r.random() < 0.3
                        cat = weighted(r, (("fbl_netblock", 94), ("fbl_unresolved", 6))) if no_from else \
                            weighted(r, (("fbl_domain", 60), ("fbl_domain_net", 34), ("fbl_unresolved", 6)))
                        text, report = self.opendmarc(ts, w.pick(cat), no_from)
                        sub["headers_only_opendmarc" + ("_no_from" if no_from else "")] = \
                            sub.get("headers_only_opendmarc" + ("_no_from" if no_from else ""), 0) + 1
                    kind = "headers_only"
                data = text.encode()
                if len(recent_fresh) < 1000:
                    recent_fresh.append((data, report))
                else:
                    recent_fresh[r.randrange(1000)] = (data, report)
            kinds[kind] += 1
            if kind in ("spamexperts", "fbl", "headers_only", "resend"):
                if len(recent_all) < 2000:
                    recent_all.append((data, report))
                else:
                    recent_all[r.randrange(2000)] = (data, report)
            h = hashlib.sha256(data).digest()
            if h not in hashes:
                hashes.add(h)
                if report is not None:
                    ip = ipaddress.ip_address(report["ip"]).compressed
                    key = (report["reporter"], report["type"], report["msgid"], ip, report["arrival"])
                    if key not in events:
                        cust, how = w.resolve(report["identity"], report["sender"], ip)
                        subject = (report["identity"] or report["sender"] or ip).lower()
                        events[key] = (cust, subject, report["type"])
                        resolution[how] += 1
            d = os.path.join(out, "mail", "%03d" % (n // 1000))
            if n % 1000 == 0:
                os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "%06d.eml" % n), "wb") as f:
                f.write(data)
            total += len(data)
            sizes.append(len(data))
        distinct = len(hashes)
        quarantined = kinds["junk"]     # junk is never re-delivered, so each junk file is distinct
        tickets = set(events.values())
        sizes.sort()
        manifest = {
            "generator": "benches/ingest/gen_corpus.py", "seed": self.seed, "count": self.count,
            "customers": len(w.customers), "files": self.count,
            "kinds": kinds, "subkinds": dict(sorted(sub.items())),
            "total_bytes": total,
            "size_bytes": {"min": sizes[0], "median": sizes[len(sizes) // 2], "mean": total // len(sizes), "max": sizes[-1]},
            "distinct_raw_messages": distinct,
            "duplicates": self.count - distinct,
            "quarantined": quarantined,
            "reports": distinct - quarantined,
            "distinct_events": len(events),
            "duplicate_events": distinct - quarantined - len(events),
            "events_by_resolution": resolution,
            "events_by_feedback_type": {t: sum(1 for v in events.values() if v[2] == t) for t in sorted({v[2] for v in events.values()})},
            "tickets": len(tickets),
            "unresolved_tickets": sum(1 for t in tickets if t[0] is None),
            "arrival_window_utc": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start)),
                                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.end))],
            "notes": "duplicates = files whose sha256 was seen before; reports = distinct raw messages that are "
                     "feedback reports; distinct_events = reports after event dedup (reporter = outer From address, "
                     "Feedback-Type, original Message-ID else Original-Envelope-Id, Source-IP, Arrival-Date/"
                     "Received-Date; OpenDMARC reports carry no arrival date: missing counts as equal); "
                     "tickets = distinct (customer or none, subject, Feedback-Type) over events.",
        }
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        return manifest

    def resend(self, old, ts):
        """Same complaint, different bytes: a new outer Message-Id and Date, everything else kept."""
        sep = old.find(b"\r\n\r\n") if b"\r\n\r\n" in old[:20000] else old.find(b"\n\n")
        head, rest = old[:sep], old[sep:]
        crlf = head.find(b"\r\n") >= 0
        new_id = b"<resent.%d.%X@%s>" % (self.uid(), self.rng.getrandbits(40), b"mail.isp.example.net")
        head = re.sub(rb"(?mi)^Message-Id: [^\r\n]*", lambda m: b"Message-Id: " + new_id, head, count=1)
        d = fmt_date(ts + self.rng.randint(3600, 20 * 3600), 0).encode()
        head = re.sub(rb"(?m)^Date: [^\r\n]*", lambda m: b"Date: " + d, head, count=1)
        assert crlf or b"\r" not in head
        return head + rest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--end", default="2026-11-30", help="end of the 30-day arrival window (UTC date)")
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.out, "mail")) and os.listdir(os.path.join(args.out, "mail")):
        sys.exit("%s/mail already exists and is not empty; choose a fresh --out" % args.out)
    t0 = time.time()
    g = Gen(args)
    g.seed = args.seed
    m = g.run(args.out)
    dt = time.time() - t0
    print(json.dumps({"out": args.out, "files": m["files"], "total_bytes": m["total_bytes"],
                      "distinct_events": m["distinct_events"], "quarantined": m["quarantined"],
                      "seconds": round(dt, 2), "messages_per_s": round(m["files"] / dt), "mb_per_s": round(m["total_bytes"] / dt / 1e6, 1)}))


if __name__ == "__main__":
    main()
