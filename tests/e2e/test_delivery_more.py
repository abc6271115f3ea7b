"""test_delivery_more.py -- the rest of delivery tracking (#10), end to end.

- `sesctl identity verify` checks an identity's return-path domain (MX and
  SPF) against a real NSD on loopback.
- Held mail past Postfix's maximal_queue_lifetime: released with a requeue
  (new queue id, fresh arrival time) instead of expiring at its first
  deferral; its record follows the new queue id.

Run with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness as h
import nsd

KEYS = '[return_path]\nkeys = ["1:0123456789abcdef-secret"]\n'


# --------------------------------------------------------------------------
# sesctl identity verify: the return-path domain

class VerifyWorld:
    """Keys for two identities and a zone where one return path is set up and
    the other is not."""

    def __init__(self, root: Path):
        kd = root / "keys"
        self.good = h.keygen_openssl("good.example", "s1", "rsa", kd)
        self.bad = h.keygen_openssl("bad.example", "s1", "rsa", kd)
        self.records = [
            (self.good["dns_name"], "TXT", self.good["txt"]),
            ("good.example", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
            ("_dmarc.good.example", "TXT", "v=DMARC1; p=none"),
            ("bounce.good.example", "MX", (10, "mx1.good.example")),
            ("bounce.good.example", "MX", (20, "mx2.good.example")),
            ("mx1.good.example", "A", "127.0.0.1"),
            ("mx2.good.example", "AAAA", "::1"),
            ("bounce.good.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
            # bad.example itself is fine; its return path is not: no MX, and
            # an SPF record that does not cover the sending address.
            (self.bad["dns_name"], "TXT", self.bad["txt"]),
            ("bad.example", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
            ("_dmarc.bad.example", "TXT", "v=DMARC1; p=none"),
            ("bounce.bad.example", "TXT", "v=spf1 ip4:198.51.100.1 -all"),
            # An MX whose host has no address.
            ("bounce.dangling.example", "MX", (10, "nowhere.dangling.example")),
        ]


@pytest.fixture(scope="module")
def vworld():
    root = h.make_root("delivery-more-verify")
    w = VerifyWorld(root)
    w.root = root
    w.dns = nsd.Nsd(root / "nsd").start(w.records)
    yield w
    w.dns.stop()
    shutil.rmtree(root, ignore_errors=True)


def verify_config(w, domain, key, rpd, ips='["192.0.2.10"]', extra="") -> Path:
    cfg = w.root / f"{domain}.toml"
    cfg.write_text("\n".join([
        "[[domain]]",
        f'name = "{domain}"',
        f'dkim = [ {{ selector = "{key["selector"]}", key = "{key["key_file"]}" }} ]',
        f"outbound_ips = {ips}",
        f'return_path_domain = "{rpd}"',
        "",
        KEYS,
        extra,
        "[dns]",
        f'forwarders = ["{w.dns.forwarder}"]',
        "",
    ]))
    return cfg


def run_verify(sesctl, cfg, domain, json_out=True, store=None):
    cmd = [str(sesctl), "-c", str(cfg)] + (["--json"] if json_out else []) + [
        "identity", "verify", domain]
    cmd += ["--store", str(store)] if store else ["--no-store"]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def test_identity_verify_return_path_set_up(sesctl_bin, vworld):
    cfg = verify_config(vworld, "good.example", vworld.good, "bounce.good.example")
    cp = run_verify(sesctl_bin, cfg, "good.example")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    r = json.loads(cp.stdout)
    assert r["state"] == "verified" and r["return_path_domain"] == "bounce.good.example"
    checks = {c["kind"]: c for c in r["checks"]}
    assert set(checks) == {"dkim", "spf", "dmarc", "return_path_mx", "return_path_spf"}
    mx = checks["return_path_mx"]
    assert mx["state"] == "verified" and mx["name"] == "bounce.good.example"
    # The hosts in preference order, with their addresses.
    assert mx["found"] == "mx1.good.example (127.0.0.1); mx2.good.example (::1)"
    assert checks["return_path_spf"]["state"] == "verified"
    assert checks["return_path_spf"]["detail"] == "SPF authorizes 1 outbound address"

    # The text form names the checks and the hosts.
    cp = run_verify(sesctl_bin, cfg, "good.example", json_out=False)
    assert cp.returncode == 0
    assert "return_path_mx\tverified\tbounce.good.example" in cp.stdout
    assert "MX of bounce.good.example: mx1.good.example (127.0.0.1); mx2.good.example (::1)" in cp.stdout


def test_identity_verify_return_path_missing_mx_and_spf_not_covering(sesctl_bin, vworld):
    cfg = verify_config(vworld, "bad.example", vworld.bad, "bounce.bad.example")
    cp = run_verify(sesctl_bin, cfg, "bad.example")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    r = json.loads(cp.stdout)
    checks = {c["kind"]: c for c in r["checks"]}
    # The identity's own records are fine ...
    assert {k: checks[k]["state"] for k in ("dkim", "spf", "dmarc")} == {
        "dkim": "verified", "spf": "verified", "dmarc": "verified"}
    # ... its return path is not.
    assert r["state"] == "failed"
    assert checks["return_path_mx"]["state"] == "failed"
    assert checks["return_path_mx"]["detail"] == "no MX record for bounce.bad.example: bounces cannot come back"
    assert checks["return_path_mx"]["publish"].startswith("bounce.bad.example. IN MX 10 ")
    spf = checks["return_path_spf"]
    assert spf["state"] == "failed"
    assert spf["detail"] == "SPF record of bounce.bad.example does not authorize 192.0.2.10 (fail)"
    assert spf["found"] == "v=spf1 ip4:198.51.100.1 -all"
    assert "ip4:192.0.2.10" in spf["publish"]
    assert r["reason"] == checks["return_path_mx"]["detail"]

    # The stored state is the identity's own (what require_verified reads).
    store = vworld.root / "store-bad"
    cfg = verify_config(vworld, "bad.example", vworld.bad, "bounce.bad.example",
                        extra=f'[store]\npath = "{store}"\n')
    cp = run_verify(sesctl_bin, cfg, "bad.example", store=store)
    assert cp.returncode == 1
    cp = subprocess.run([str(sesctl_bin), "-c", str(cfg), "--json", "identity", "status", "bad.example"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    stored = json.loads(cp.stdout)["identities"][0]
    assert stored["state"] == "verified"
    assert "return_path_mx" not in {c["kind"] for c in stored["checks"]}


def test_identity_verify_return_path_mx_host_without_address(sesctl_bin, vworld):
    # No outbound_ips anywhere: the SPF record's presence is all that is checked.
    cfg = verify_config(vworld, "good.example", vworld.good, "bounce.dangling.example", ips="[]")
    cp = run_verify(sesctl_bin, cfg, "good.example")
    assert cp.returncode == 1
    r = json.loads(cp.stdout)
    checks = {c["kind"]: c for c in r["checks"]}
    assert checks["return_path_mx"]["state"] == "failed"
    assert checks["return_path_mx"]["detail"] == \
        "MX host nowhere.dangling.example of bounce.dangling.example does not resolve"
    assert checks["return_path_mx"]["found"] == "nowhere.dangling.example (no address)"
    assert checks["return_path_spf"]["state"] == "failed"
    assert checks["return_path_spf"]["detail"] == "SPF record of bounce.dangling.example missing"


# --------------------------------------------------------------------------
# Warm-up: shared by the held-mail and the bad-day tests.  Days are simulated
# with SESMILTER_NOW (sesmilter reads it at start, sesctl --now at each run).

DAY1 = "2030-01-07T10:00:00Z"
DAY2 = "2030-01-08T10:00:01Z"
DAYS = ("--from", "2030-01-01", "--to", "2030-01-31")
SENDER = "alice@example.com"


class WarmupMta:
    """sesmilter with warm-up, records and the log follower on one MTA."""

    def __init__(self, mta, keys, script, extra="", domains=None):
        self.mta = mta
        self.script = mta.dir / "plan.lua"
        self.script.write_text(script)
        self.config = mta.config(domains or {"example.com": [keys.rsa]}, extra=f"""
[store]
path = "{mta.dir / 'store'}"

[policy]
script = "{self.script}"

[warmup]
enabled = true
time_zone = "UTC"
hold_duration = "24h"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
log_file = "{mta.postfix.maillog_path}"
log_poll_interval = "1s"
{extra}
""")
        self.milter = None

    def start(self, now):
        if self.milter is None:
            self.milter = self.mta.milter(self.config, start=False)
        self.milter.env = dict(os.environ, SESMILTER_NOW=now)
        self.milter.start()
        return self.milter

    def sesctl(self, now, *args):
        cp = h._run([str(h.DEFAULT_SESCTL) if not os.environ.get("SESCTL_BIN") else os.environ["SESCTL_BIN"],
                     "-c", str(self.milter.config_path), "--now", now, *args, "--json"],
                    env=dict(os.environ, SESMILTER_NOW=now))
        return json.loads(cp.stdout) if cp.stdout.strip() else {}

    def status(self, now, mid):
        return {e["To"]: e for e in self.sesctl(now, "status", mid)["EmailStatusList"]}

    def wait_status(self, now, mid, want, timeout=40.0):
        last = {}

        def done():
            nonlocal last
            last = self.status(now, mid)
            return all(r in last and last[r]["DeliverStatus"] == s for r, s in want.items())
        try:
            h.wait_for(done, timeout, interval=0.3, what=f"status {want}")
        except h.HarnessError as e:
            raise h.HarnessError(f"{e}\nlast status: {json.dumps(last, indent=1)}")
        return last

    def held_in_postfix(self):
        return [q for q in self.mta.postfix.queue() if q.get("queue_name") == "hold"]


def ids_in_log(milter, start=0):
    return re.findall(r" id=([a-z2-7]{26})\b", milter.log()[start:])


ONE_A_DAY = 'ses.on("daily_limit", function(identity) return 1 end)\n'


def test_held_past_the_queue_lifetime_is_requeued_and_delivered(mta, keys):
    # Postfix expires a message older than maximal_queue_lifetime at its
    # first temporary failure, and postsuper -H keeps the arrival time:
    # measured, a held message released with -H after the lifetime whose
    # next hop defers is "status=expired, returned to sender" at once.
    defer = h.Sink(mta.dir / "sink-defer", h.free_port(), extra_args=["-r", "RCPT"]).start()
    try:
        mta.postfix.postconf(maximal_queue_lifetime="20s", bounce_queue_lifetime="20s",
                             transport_maps=f"inline:{{late.example=smtp:[{h.LOOPBACK}]:{defer.port}}}")
        mta.postfix.reload()
        w = WarmupMta(mta, keys, ONE_A_DAY, extra='requeue_margin = "1h"')
        m = w.start(DAY1)
        sent_at = time.time()
        for rcpt, subject in (("ok@ok.example", "first"), ("r@late.example", "second, held")):
            msg = h.make_message(f"Alice <{SENDER}>", rcpt, subject, "Hello.\n")
            assert mta.send(msg, mail_from=SENDER, rcpts=[rcpt])[0] == 250
        held = h.wait_for(lambda: w.held_in_postfix(), 15, what="a held message")
        old_qid = held[0]["queue_id"]
        mid = h.wait_for(lambda: len(ids_in_log(m)) == 2 and ids_in_log(m), 15, what="two ids")[1]
        st = w.status(DAY1, mid)["r@late.example"]
        assert st["SendStatus"] == 1010 and st["DeliverStatus"] == 0 and st["QueueId"] == old_qid

        # Past Postfix's lifetime in real time (and in sesmilter's days).
        time.sleep(max(0.0, 22 - (time.time() - sent_at)))
        r = w.sesctl(DAY2, "queue", "release-due")
        assert r["released"] == 1 and r["requeued"] == 1, r
        assert r["queue_ids"] == [old_qid]
        line = h.wait_for(lambda: re.search(rf"postfix/pickup\[\d+\]: (\w+): .* orig_id={old_qid}",
                                            mta.postfix.maillog), 90, what="pickup of the requeued message")
        new_qid = line.group(1)
        assert new_qid != old_qid
        # The first attempt is deferred and the message stays queued: no expiry.
        st = w.wait_status(DAY2, mid, {"r@late.example": 8})["r@late.example"]
        assert st["QueueId"] == new_qid
        assert "status=expired" not in mta.postfix.maillog
        assert not w.held_in_postfix()  # the milter is not asked again: not held again
        # Still queued after the deferral, 20 s past its arrival.  (Measured:
        # postqueue -j and delay= keep the original arrival time; the
        # lifetime counts from the new queue file.)
        q = mta.postfix.queue()
        assert [e["queue_id"] for e in q] == [new_qid]
        assert q[0]["queue_name"] == "deferred"

        # The next hop accepts now: delivered, signed as it was, counted once.
        mta.postfix.postconf(transport_maps="")
        mta.postfix.reload()
        mta.postfix.flush()
        st = w.wait_status(DAY2, mid, {"r@late.example": 1})["r@late.example"]
        got = [x for x in mta.sink.messages() if mid.encode() in x]
        assert len(got) == 1 and h.dkim_verify(got[0], keys.txt), got
        time.sleep(2)  # more follower polls
        t = w.sesctl(DAY2, "stats", *DAYS)["Total"]
        want = {"RequestCount": 2, "AcceptedCount": 2, "DeliveredCount": 2, "DeferredCount": 1,
                "BounceCount": 0}
        assert {k: t[k] for k in want} == want, t
    finally:
        defer.stop()


SMALL_PLAN = """
local PLAN = {5, 10, 20}
ses.on("daily_limit", function(identity) return PLAN[math.min(identity.level, #PLAN)] end)
ses.on("should_upgrade", function(identity, y)
  if identity.level >= #PLAN then return false end
  local sent = math.max(y.sent, 1)
  return y.bounced / sent < 0.05 and y.complained / sent < 0.001
end)
"""


def test_a_bad_day_of_bounces_stops_the_next_days_upgrade(mta, keys):
    # example.com sends five messages on day 1, three of them to a next hop
    # that answers 550; example.net sends five that are all delivered.  The
    # follower turns the bounce lines into warm-up counters: no
    # `sesctl warmup feedback`.
    reject = h.Sink(mta.dir / "sink-reject", h.free_port(), extra_args=["-f", "RCPT"]).start()
    try:
        mta.postfix.postconf(
            transport_maps=f"inline:{{reject.example=smtp:[{h.LOOPBACK}]:{reject.port}}}")
        mta.postfix.reload()
        w = WarmupMta(mta, keys, SMALL_PLAN,
                      domains={"example.com": [keys.rsa], "example.net": [keys.net]})
        m = w.start(DAY1)
        bad = ["a@ok.example", "b@ok.example", "x@reject.example", "y@reject.example", "z@reject.example"]
        for i, rcpt in enumerate(bad):
            msg = h.make_message("Alice <alice@example.com>", rcpt, f"bad day {i}", "Hello.\n")
            assert mta.send(msg, mail_from="alice@example.com", rcpts=[rcpt])[0] == 250
        for i in range(5):
            msg = h.make_message("Nina <nina@example.net>", f"n{i}@ok.example", f"good day {i}", "Hello.\n")
            assert mta.send(msg, mail_from="nina@example.net", rcpts=[f"n{i}@ok.example"])[0] == 250
        h.wait_for(lambda: mta.postfix.maillog.count("status=bounced") == 3, 40, what="three bounces")
        mta.postfix.wait_queue_empty(30)

        def day1(identity):
            return w.sesctl(DAY1, "warmup", "status", identity)["today"]
        h.wait_for(lambda: day1("example.com")["bounced"] == 3, 20, what="bounces in the warm-up counters")
        com, net = day1("example.com"), day1("example.net")
        assert (com["sent"], com["bounced"], com["held"]) == (5, 3, 0), com
        assert (net["sent"], net["bounced"]) == (5, 0), net
        t = w.sesctl(DAY1, "stats", *DAYS, "--identity", "example.com")["Total"]
        assert (t["HardBounceCount"], t["DeliveredCount"]) == (3, 2), t

        # Day 2: the bad day keeps example.com at step 1; example.net moves up.
        m.stop()
        w.start(DAY2)
        com = w.sesctl(DAY2, "warmup", "status", "example.com")
        net = w.sesctl(DAY2, "warmup", "status", "example.net")
        assert (com["level"], com["limit"]) == (1, 5), com
        assert (net["level"], net["limit"]) == (2, 10), net
        # Nothing was added by hand: the day's bounces are exactly the log's.
        assert w.sesctl(DAY2, "warmup", "status", "example.com")["today"]["bounced"] == 0
    finally:
        reject.stop()
