"""The warm-up and return-path events through a real Postfix, at a webhook.

A message over the day's warm-up limit is held in Postfix's hold queue and
released by sesmilter's own scheduler the next day (the daemon's clock is
the test clock, SESMILTER_CLOCK_FILE); its recipient's events reach the
webhook as processed, held, released, delivered, in that order.  An
out-of-office reply sent back to a message's return-path tag is consumed
and reaches the webhook as an auto_reply event, and counts as no bounce.
Unit tests cover the same events without an MTA (docs/events.md)."""

import hashlib
import hmac
import json
import os
from pathlib import Path

import harness as h
from test_warmup import SMALL_PLAN
from test_webhooks import Clock, Receiver

SENDER = "alice@example.com"
SECRET = "lifecycle-secret-0123456789"
RP = "bounce.example.com"
FEEDBACK = Path(__file__).resolve().parent.parent / "data" / "feedback"


def events_at(rx):
    out = []
    for _, hdrs, body, _ in rx.accepted("/ses"):
        _, ok = verify_one(hdrs, body)
        assert ok, hdrs
        out.extend(json.loads(body))
    return out


def verify_one(hdrs, body):
    parts = [p.split("=", 1) for p in hdrs["x-ses-signature"].split(",")]
    t = [v for k, v in parts if k == "t"][0]
    mac = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return int(t), any(hmac.compare_digest(mac, v) for k, v in parts if k == "v1")


def types_for(events, rcpt):
    return [e["event"] for e in events if e.get("recipient") == rcpt]


def test_held_released_delivered_and_auto_reply_reach_the_webhook(mta, keys, sesctl_bin):
    rx = Receiver(h.free_port()).start()
    clock = Clock(mta.dir / "clock")
    script = mta.dir / "plan.lua"
    script.write_text(SMALL_PLAN)
    extra = f"""[store]
path = "{mta.dir / 'store'}"

[policy]
script = "{script}"

[warmup]
enabled = true
time_zone = "UTC"
hold_duration = "24h"
release_scheduler = true
release_interval = "1s"

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
log_file = "{mta.postfix.maillog_path}"
log_poll_interval = "1s"

[return_path]
keys = ["1:e2e-secret-0123456789"]

[webhooks]
poll_interval = "1s"
retry_base = "30s"

[[webhook]]
name = "ses"
url = "http://{h.LOOPBACK}:{rx.port}/ses"
secrets = ["{SECRET}"]
"""
    cfg = mta.config({"example.com": [keys.rsa]}, extra=extra)
    cfg = cfg.replace('name = "example.com"', f'name = "example.com"\nreturn_path_domain = "{RP}"')
    m = mta.milter(cfg, start=False)
    m.env = dict(os.environ, SESMILTER_CLOCK_FILE=str(clock.path))
    m.start()
    try:
        # Day 1: the plan's limit is 5; the sixth message is held.
        rcpts = [f"r{i}@remote.test" for i in range(6)]
        start = len(m.log())
        for r in rcpts:
            msg = h.make_message(f"Alice <{SENDER}>", [r], f"lifecycle {r}", "Hello.\n")
            assert mta.send(msg, mail_from=SENDER, rcpts=[r])[0] == 250
        mta.sink.wait_count(5, 30)
        held = h.wait_for(lambda: [q for q in mta.postfix.queue() if q.get("queue_name") == "hold"], 20,
                          what="a message in Postfix's hold queue")
        assert len(held) == 1
        # Sent one after the other: the sixth is the one over the limit.
        held_rcpt = rcpts[-1]
        assert held[0]["recipients"][0]["address"] == held_rcpt, held
        h.wait_for(lambda: "held" in types_for(events_at(rx), held_rcpt), 20, interval=0.5,
                   what="the held event at the webhook")

        # Day 2 (the test clock): the scheduler releases it, Postfix delivers it.
        clock.advance(86400 + 60)
        mta.sink.wait_count(6, 60)
        h.wait_for(lambda: "delivered" in types_for(events_at(rx), held_rcpt), 40, interval=0.5,
                   what="the delivered event of the released message")
        seen = types_for(events_at(rx), held_rcpt)
        assert seen == ["processed", "held", "released", "delivered"], seen
        for r in rcpts:
            if r != held_rcpt:
                assert "held" not in types_for(events_at(rx), r)

        # An out-of-office reply to a delivered message's return-path tag:
        # consumed (nothing reaches the sink), an auto_reply event, no bounce.
        first = m.wait_log(r" id=([a-z2-7]{26}) return_path=(\S+@" + RP.replace(".", r"\.") + ")", 20,
                           start=start)
        mid, tag = first.group(1), first.group(2)
        mta.sink.clear()
        ooto = (FEEDBACK / "out-of-office.eml").read_bytes()
        ooto = ooto.replace(b"b7x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", tag.encode())
        assert mta.send(ooto, mail_from="alice@example.net", rcpts=[tag])[0] == 250
        h.wait_for(lambda: [e for e in events_at(rx) if e["event"] == "auto_reply"], 30, interval=0.5,
                   what="the auto_reply event at the webhook")
        auto = [e for e in events_at(rx) if e["event"] == "auto_reply"]
        assert {e["message_id"] for e in auto} == {mid}, auto
        st = json.loads(h.sesctl("-c", str(m.config_path), "status", mid, "--json").stdout)["EmailStatusList"]
        assert [e["DeliverStatus"] for e in st] == [1], st
        mta.postfix.wait_queue_empty(20)
        assert mta.sink.count() == 0
    finally:
        rx.stop()
