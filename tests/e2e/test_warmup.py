"""Warm-up quotas through a real Postfix: over-quota mail is held in
Postfix's hold queue (smfi_quarantine), released the next day with
`postsuper -H` + `postqueue -i`, counted on the day it is released; a bad
day does not upgrade; counting is exact under parallel sessions; a kill -9
of sesmilter never makes the counters pass the limit.

Days are simulated with SESMILTER_NOW (sesmilter reads it at start, sesctl
at every run).  The plan is a small test script: 5, 10, 20 a day."""

import json
import os
import threading
import time

import pytest

import harness as h

FROM = "sender@example.com"
RCPT = "rcpt@remote.test"
DAY1 = "2030-01-07T10:00:00Z"   # a Monday
DAY2 = "2030-01-08T10:00:01Z"   # 24 h and a second later

SMALL_PLAN = """
local PLAN = {5, 10, 20}
ses.on("daily_limit", function(identity) return PLAN[math.min(identity.level, #PLAN)] end)
ses.on("should_upgrade", function(identity, y)
  if identity.level >= #PLAN then return false end
  local sent = math.max(y.sent, 1)
  return y.bounced / sent < 0.05 and y.complained / sent < 0.001
end)
"""

FIFTY = 'ses.on("daily_limit", function(identity) return 50 end)\n'


class Warmup:
    """One MTA + sesmilter with warm-up on, a store and a policy script."""

    def __init__(self, mta, keys, sesctl_bin, script=SMALL_PLAN, scheduler=False, policy_extra=""):
        self.mta = mta
        self.sesctl_bin = sesctl_bin
        self.store = mta.dir / "store"
        self.script = mta.dir / "plan.lua"
        self.script.write_text(script)
        extra = f"""
[store]
path = "{self.store}"

[policy]
script = "{self.script}"
{policy_extra}

[warmup]
enabled = true
time_zone = "UTC"
hold_duration = "24h"
release_scheduler = {"true" if scheduler else "false"}
release_interval = "1s"

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
"""
        self.config = mta.config({"example.com": [keys.rsa]}, extra=extra)
        self.milter = None

    def start(self, now):
        env = dict(os.environ, SESMILTER_NOW=now)
        if self.milter is None:
            self.milter = self.mta.milter(self.config, start=False)
        self.milter.env = env
        self.milter.start()
        return self.milter

    def sesctl(self, now, *args, check=True):
        cp = h._run([self.sesctl_bin, "-c", self.milter.config_path, "--now", now, *args, "--json"],
                    check=check, env=dict(os.environ, SESMILTER_NOW=now))
        return json.loads(cp.stdout) if cp.stdout.strip() else {}

    def send(self, n, tag, rcpts=(RCPT,)):
        codes = []
        for i in range(n):
            msg = h.make_message(FROM, list(rcpts), f"{tag} {i}", f"message {tag} {i}\n")
            codes.append(self.mta.send(msg, mail_from=FROM, rcpts=rcpts)[0])
        return codes

    def held_in_postfix(self):
        return [q for q in self.mta.postfix.queue() if q.get("queue_name") == "hold"]


def test_day1_holds_the_sixth_day2_releases_it_and_counts_it_there(mta, keys, sesctl_bin):
    w = Warmup(mta, keys, sesctl_bin)
    w.start(DAY1)
    assert w.send(6, "day1") == [250] * 6  # held mail is accepted into the MTA
    mta.sink.wait_count(5, 30)
    held = h.wait_for(lambda: w.held_in_postfix(), 15, what="a message in Postfix's hold queue")
    assert len(held) == 1
    assert mta.sink.count() == 5

    st = w.sesctl(DAY1, "warmup", "status", "example.com")
    assert st["level"] == 1 and st["limit"] == 5
    assert st["today"]["sent"] == 5 and st["today"]["held"] == 1
    assert st["held_messages"] == 1
    q = w.sesctl(DAY1, "queue", "held")
    assert [e["queue_id"] for e in q["held"]] == [held[0]["queue_id"]]
    assert q["held"][0]["release_at"] == "2030-01-08T10:00:00Z"
    assert q["held"][0]["identities"] == ["example.com"]
    assert q["held"][0]["recipients"] == 1

    # Not due yet: nothing moves.
    r = w.sesctl(DAY1, "queue", "release-due")
    assert r["released"] == 0
    assert len(w.held_in_postfix()) == 1

    # Day 2: released, delivered, counted on day 2.
    r = w.sesctl(DAY2, "queue", "release-due")
    assert r["released"] == 1, r
    assert r["queue_ids"] == [held[0]["queue_id"]]
    mta.sink.wait_count(6, 60)
    mta.postfix.wait_queue_empty(30)
    st = w.sesctl(DAY2, "warmup", "status", "example.com")
    assert st["level"] == 2 and st["limit"] == 10
    assert st["today"]["sent"] == 1 and st["today"]["released"] == 1
    assert st["held_messages"] == 0
    assert w.sesctl(DAY2, "queue", "held")["held"] == []


def test_the_scheduler_in_sesmilter_releases_due_mail(mta, keys, sesctl_bin):
    w = Warmup(mta, keys, sesctl_bin, scheduler=True)
    w.start(DAY1)
    w.send(7, "sched")
    mta.sink.wait_count(5, 30)
    h.wait_for(lambda: len(w.held_in_postfix()) == 2, 15, what="2 held messages")
    w.milter.stop()
    w.start(DAY2)  # the release thread runs at once and every second
    mta.sink.wait_count(7, 60)
    mta.postfix.wait_queue_empty(30)
    st = w.sesctl(DAY2, "warmup", "status", "example.com")
    assert st["today"]["released"] == 2


def test_a_bad_reputation_day_does_not_upgrade(mta, keys, sesctl_bin):
    w = Warmup(mta, keys, sesctl_bin)
    w.start(DAY1)
    w.send(5, "bad")
    mta.sink.wait_count(5, 30)
    w.sesctl(DAY1, "warmup", "feedback", "example.com", "--bounced", "1")  # 20 %
    w.milter.stop()
    w.start(DAY2)
    st = w.sesctl(DAY2, "warmup", "status", "example.com")
    assert st["level"] == 1 and st["limit"] == 5
    w.send(6, "day2")
    mta.sink.wait_count(10, 30)
    h.wait_for(lambda: len(w.held_in_postfix()) == 1, 15, what="the 6th message of day 2 held")
    # The forecast sees the same reputation: the level would never move.
    f = w.sesctl(DAY2, "warmup", "forecast", "example.com", "--volume", "20/day")
    assert f["reached"] is False


def test_twenty_parallel_sessions_against_a_limit_of_fifty(mta, keys, sesctl_bin):
    w = Warmup(mta, keys, sesctl_bin, script=FIFTY)
    w.start(DAY1)
    codes, errors = [], []
    lock = threading.Lock()

    def client(t):
        for i in range(10):
            msg = h.make_message(FROM, RCPT, f"par {t}-{i}", "x\n")
            try:
                c = mta.send(msg, mail_from=FROM)[0]
            except Exception as e:  # noqa: BLE001 -- reported below
                with lock:
                    errors.append(repr(e))
                continue
            with lock:
                codes.append(c)

    ts = [threading.Thread(target=client, args=(t,)) for t in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert codes == [250] * 200
    mta.sink.wait_count(50, 60)
    h.wait_for(lambda: len(w.held_in_postfix()) == 150, 30, what="150 held messages")
    # Give Postfix a moment: nothing more may arrive.
    h.wait_for(lambda: len(mta.postfix.queue()) == 150, 30, what="only held mail left in the queue")
    assert mta.sink.count() == 50
    st = w.sesctl(DAY1, "warmup", "status", "example.com")
    assert st["today"]["sent"] == 50
    assert st["today"]["held"] == 150
    assert st["held_messages"] == 150
    assert st["today"]["sent"] + st["today"]["held"] == 200


def test_kill9_under_load_keeps_the_store_and_the_limit(mta, keys, sesctl_bin):
    w = Warmup(mta, keys, sesctl_bin, script=FIFTY)
    w.start(DAY1)
    accepted, tempfailed = [], []
    lock = threading.Lock()
    stop = threading.Event()

    def client(t):
        i = 0
        while not stop.is_set() and i < 40:
            msg = h.make_message(FROM, RCPT, f"k9 {t}-{i}", "x\n")
            i += 1
            try:
                mta.send(msg, mail_from=FROM)
                with lock:
                    accepted.append(h.message_id(msg))
            except h.SMTPReplyError as e:
                with lock:
                    tempfailed.append((h.message_id(msg), e.smtp_code))

    ts = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    h.wait_for(lambda: len(accepted) >= 30, 60, what="30 accepted messages")
    w.milter.kill9()
    for t in ts:
        t.join(60)
    stop.set()
    assert all(400 <= code < 500 for _, code in tempfailed), tempfailed

    # Restart: LMDB opens cleanly (stale reader slots are cleared).
    w.start(DAY1)
    st = w.sesctl(DAY1, "warmup", "status", "example.com")
    assert st["today"]["sent"] <= 50
    # Every accepted message ends delivered or held.
    mta.postfix.flush()
    h.wait_for(lambda: mta.sink.count() + len(w.held_in_postfix()) >= len(accepted), 60,
               what="every accepted message delivered or held")
    h.wait_for(lambda: all(q.get("queue_name") == "hold" for q in mta.postfix.queue()), 60,
               what="only held mail left in the queue")
    delivered = {h.message_id(m) for m in mta.sink.messages()}
    assert len(delivered) <= 50
    assert mta.sink.count() + len(w.held_in_postfix()) == len(accepted)
    st = w.sesctl(DAY1, "warmup", "status", "example.com")
    assert st["today"]["sent"] <= 50
    assert st["today"]["sent"] >= len(delivered)
    # A hold recorded just before the kill may have been tempfailed by Postfix:
    # its record stays until a release finds it gone (not_held).
    assert st["held_messages"] >= len(w.held_in_postfix())


# A hostile script: the budget error is caught by pcall, and before the fix
# the hook kept running inside the store's write transaction, stopping all
# outbound mail and `sesctl warmup status` until a restart.
HOSTILE = """
ses.on("daily_limit", function(identity)
  while true do pcall(function() while true do end end) end
end)
"""

FIXED = 'ses.on("daily_limit", function(identity) return 2 end)\n'


def test_a_hostile_script_does_not_stop_mail(mta, keys, sesctl_bin):
    # Large instruction budget: the one-second time limit is what ends the hook.
    w = Warmup(mta, keys, sesctl_bin, script=HOSTILE,
               policy_extra="instruction_limit = 1000000000\ntime_limit_ms = 1000")
    w.start(DAY1)
    for i in range(3):
        t0 = time.monotonic()
        assert w.send(1, f"hostile {i}") == [250]
        took = time.monotonic() - t0
        assert took < 8, f"message {i} took {took:.1f} s"
    # The built-in plan decided (500 on day 1): all three are delivered.
    mta.sink.wait_count(3, 30)
    assert w.held_in_postfix() == []
    w.milter.wait_log(r"policy: .*time limit exceeded.*using the built-in rule", 10)

    # sesctl answers while the daemon's hook is stalled on another message.
    sender = threading.Thread(target=lambda: w.send(1, "during status"))
    sender.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    st = w.sesctl(DAY1, "warmup", "status", "example.com")
    took = time.monotonic() - t0
    sender.join(30)
    assert took < 8, f"status took {took:.1f} s"
    assert st["limit"] == 500          # sesctl's own call fell back too
    assert st["policy_stalls"] >= 1
    mta.sink.wait_count(4, 30)

    # SIGHUP with a fixed script replaces the states: the limit is 2 now.
    w.script.write_text(FIXED)
    start = len(w.milter.log())
    w.milter.hup()
    w.milter.wait_log(r"policy script reloaded", 10, start=start)
    assert w.send(1, "after the fix") == [250]
    h.wait_for(lambda: len(w.held_in_postfix()) == 1, 15, what="the message over the fixed limit held")
    assert mta.sink.count() == 4
