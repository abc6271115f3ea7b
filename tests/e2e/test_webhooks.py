"""Signed event webhooks through a real Postfix (docs/events.md).

A small HTTP receiver of our own on 127.0.0.1 takes the requests. It fails
the first attempts, is then stopped for "an hour" (the daemon's clock is the
test clock, SESMILTER_CLOCK_FILE, advanced by the test), comes back, and is
slow while sesmilter is killed with -9 in the middle of a request. At the
end every event the store recorded has arrived (duplicates allowed and
counted by X-SES-Event-ID), every request's signature verifies with an
independent hmac computation over t "." body with either of two secrets,
and each recipient's events arrived in the order they happened. A webhook
whose endpoint never answers gives up after max_age: `sesctl events failed`
lists it and `sesctl events retry --all` delivers it once the endpoint is up."""

import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as h

SENDER = "alice@example.com"
SECRET_NEW = "new-secret-0123456789abcdef"
SECRET_OLD = "old-secret-0123456789abcdef"
TENCENT_TYPES = {"delivered", "deferred", "dropped", "bounce", "spamreport", "open", "click",
                 "unsubscribe"}


class Receiver:
    """An HTTP endpoint: records every request; answers 503 to the first
    `fail_first` requests to /ses, sleeps `delay` seconds before answering when set."""

    def __init__(self, port):
        self.port = port
        self.requests = []  # (path, headers dict, body bytes, status answered)
        self.fail_first = 0
        self.delay = 0.0
        self.in_flight = threading.Event()
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rx.lock:
                    failing = rx.fail_first > 0 and self.path == "/ses"
                    status = 503 if failing else 200
                    if failing:
                        rx.fail_first -= 1
                    rx.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                        status))
                if rx.delay:
                    rx.in_flight.set()
                    time.sleep(rx.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((h.LOOPBACK, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == path and r[3] == 200]


class Clock:
    """The daemon's clock: a file it re-reads when it changes."""

    def __init__(self, path):
        self.path = path
        self.now = int(time.time())
        self.write()

    def write(self):
        tmp = str(self.path) + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.now}\n")
        os.replace(tmp, self.path)

    def advance(self, seconds):
        self.now += seconds
        self.write()


def verify(headers, body):
    """The receiver's check, as docs/events.md shows it (independent of sesmilter)."""
    parts = [p.split("=", 1) for p in headers["x-ses-signature"].split(",")]
    t = [v for k, v in parts if k == "t"][0]
    sigs = [v for k, v in parts if k == "v1"]
    ok = []
    for secret in (SECRET_NEW, SECRET_OLD):
        mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok.append(any(hmac.compare_digest(mac, s) for s in sigs))
    return int(t), ok


def sesctl_json(m, *args):
    return json.loads(h.sesctl("-c", str(m.config_path), *args, "--json").stdout)


def ses_events(rx):
    """Every event object received at /ses, with the request's headers."""
    out = []
    for _, hdrs, body, _ in rx.accepted("/ses"):
        for e in json.loads(body):
            out.append(e)
    return out


def test_webhooks_at_least_once_in_order_signed(mta, keys):
    rx_port, dead_port = h.free_port(), h.free_port()
    rx = Receiver(rx_port).start()
    clock = Clock(mta.dir / "clock")
    extra = f"""[mta]
log_file = "{mta.postfix.maillog_path}"
log_poll_interval = "1s"

[webhooks]
max_age = "2h"
retry_base = "30s"
retry_max = "10m"
poll_interval = "1s"

[[webhook]]
name = "ses"
url = "http://{h.LOOPBACK}:{rx_port}/ses"
secrets = ["{SECRET_NEW}", "{SECRET_OLD}"]
batch_max = 50

[[webhook]]
name = "tencent"
url = "http://{h.LOOPBACK}:{rx_port}/tc"
secrets = ["{SECRET_NEW}"]
format = "tencent"
timeout = "5s"

[[webhook]]
name = "dead"
url = "http://{h.LOOPBACK}:{dead_port}/dead"
secrets = ["{SECRET_NEW}"]
events = ["processed"]
"""
    cfg = mta.config({"example.com": [keys.rsa]}, extra=extra)
    env = dict(os.environ, SESMILTER_CLOCK_FILE=str(clock.path))
    m = mta.milter(cfg, start=False)
    m.env = env
    m.start()
    try:
        run(mta, m, rx, clock, cfg, env, dead_port)
    finally:
        rx.stop()


def send(mta, tag, rcpts):
    msg = h.make_message(f"Alice <{SENDER}>", rcpts, f"webhook {tag}", "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250


def all_event_ids(m):
    return {e["EventId"]: e for e in sesctl_json(m, "events", "--limit", "100000")["Events"]}


def wait_delivered(m, n_rcpts):
    h.wait_for(lambda: len([e for e in all_event_ids(m).values() if e["Type"] == "delivered"]) >= n_rcpts, 40,
               interval=0.5, what=f"{n_rcpts} delivered events")


def run(mta, m, rx, clock, cfg, env, dead_port):
    # 1. The endpoint answers 503 three times, then recovers: retries at
    #    30 s, 60 s, 120 s of the test clock.
    rx.fail_first = 3
    rcpts = ["a@one.test", "b@two.test"]
    for i in range(3):
        send(mta, f"first {i}", rcpts)
    wait_delivered(m, 6)

    def drive(pred, what, step=40, limit=40):
        for _ in range(limit):
            if pred():
                return
            clock.advance(step)
            time.sleep(1.2)
        assert pred(), what

    drive(lambda: set(all_event_ids(m)) <= {e["event_id"] for e in ses_events(rx)},
          "every event of the first messages at /ses")
    assert len([r for r in rx.requests if r[3] == 503]) == 3

    # 2. The endpoint is down for an hour: events pile up, retries back off
    #    (not one attempt per second), nothing is lost.
    rx_prev = rx
    rx.stop()
    for i in range(2):
        send(mta, f"down {i}", rcpts)
    wait_delivered(m, 10)
    log_start = len(m.log())
    for _ in range(12):
        clock.advance(300)
        time.sleep(1.2)
    refused = m.log()[log_start:].count("webhook ses: ")
    assert 3 <= refused <= 14, m.log()[log_start:]
    rx = Receiver(rx_prev.port).start()
    drive(lambda: set(all_event_ids(m)) <= {e["event_id"] for e in ses_events(rx_prev) + ses_events(rx)},
          "every event of the down hour at /ses", step=120)

    # 3. sesmilter killed with -9 while a request is in flight: after the
    #    restart the unacknowledged events come again (at least once).
    rx.delay = 10.0
    rx.in_flight.clear()
    send(mta, "killed", rcpts)
    assert rx.in_flight.wait(30), "no request in flight"
    m.kill9()
    rx.delay = 0
    m = mta.milter(cfg, start=False)
    m.env = env
    m.start()
    wait_delivered(m, 12)
    drive(lambda: set(all_event_ids(m)) <= {e["event_id"] for e in ses_events(rx) + ses_events(rx_prev)},
          "every event after kill -9", step=60)

    # Every event arrived; duplicates are possible and counted.
    recorded = all_event_ids(m)
    got = ses_events(rx_prev) + ses_events(rx)
    ids = [e["event_id"] for e in got]
    assert set(recorded) <= set(ids)
    dups = len(ids) - len(set(ids))
    print(f"events {len(recorded)}, received {len(ids)}, duplicates {dups}")
    types = {e["Type"] for e in recorded.values()}
    assert {"processed", "delivered"} <= types, types

    # Order per recipient: first arrivals in event order.
    first = {}
    for e in got:
        first.setdefault(e["event_id"], e)
    per_rcpt = {}
    for e in first.values():
        per_rcpt.setdefault(e["recipient"], []).append(int(e["event_id"]))
    for r, seqs in per_rcpt.items():
        assert seqs == sorted(seqs), (r, seqs)

    # Every request: two v1 signatures (a rotation), both verify, the event
    # id header names the body's events, t is the test clock at that attempt.
    for req in rx_prev.requests + rx.requests:
        path, hdrs, body, _ = req
        t, ok = verify(hdrs, body)
        if path == "/ses":
            assert ok == [True, True], hdrs
            assert hdrs["x-ses-event-id"] == ",".join(e["event_id"] for e in json.loads(body))
        else:
            assert ok[0], hdrs
        assert hdrs["content-type"] == "application/json"
    # A fresh t per attempt: the three 503s and the success were signed at
    # different times of the test clock.
    ts = sorted({verify(r[1], r[2])[0] for r in rx_prev.requests if r[0] == "/ses"})
    assert len(ts) >= 4, ts

    # The tencent endpoint: one object per request, only its types, its fields.
    tc = [json.loads(r[2]) for r in rx_prev.accepted("/tc") + rx.accepted("/tc")]
    assert tc and all(isinstance(o, dict) for o in tc)
    assert {o["event"] for o in tc} <= TENCENT_TYPES
    delivered = [o for o in tc if o["event"] == "delivered"]
    assert {o["email"] for o in delivered} == set(rcpts)
    for o in delivered:
        assert o["fromDomain"] == "example.com" and o["from"] == SENDER
        assert o["bulkId"] == o["messageId"] and o["bulkId"] in {e["MessageId"] for e in recorded.values()}
        # (delivered times come from Postfix's log, in real time; the request
        # time from the test clock: only their presence is compared)
        assert o["sentTimestamp"] > 0 and o["timestamp"] > 0
        assert isinstance(o["templateId"], int)

    # 4. The dead endpoint gave up after max_age (2 h): listed, then retried
    #    once it is up, delivered, and the failed list is empty.
    clock.advance(2 * 3600 + 60)
    failed = []
    for _ in range(30):
        failed = sesctl_json(m, "events", "failed")["Failed"]
        if len(failed) >= 12:
            break
        clock.advance(600)
        time.sleep(1.2)
    n_processed = len([e for e in recorded.values() if e["Type"] == "processed"])
    assert n_processed == 12  # six messages to two recipients
    assert len(failed) == n_processed, failed
    assert all(f["Webhook"] == "dead" and f["Type"] == "processed" for f in failed)
    assert "gave up on event" in m.log()
    text = h.sesctl("-c", str(m.config_path), "events", "failed").stdout
    assert failed[0]["EventId"] in text
    dead = Receiver(dead_port).start()
    try:
        out = sesctl_json(m, "events", "retry", "--all")
        assert out["Retried"] == len(failed)
        h.wait_for(lambda: len(dead.accepted("/dead")) > 0, 20, what="the retried events")
        got_dead = [json.loads(r[2]) for r in dead.accepted("/dead")]
        got_ids = {e["event_id"] for batch in got_dead for e in batch}
        assert got_ids == {f["EventId"] for f in failed}
        assert sesctl_json(m, "events", "failed")["Failed"] == []
        # retry of an id that is not failed is an error
        cp = h.sesctl("-c", str(m.config_path), "events", "retry", "999999", check=False)
        assert cp.returncode == 1
    finally:
        dead.stop()
