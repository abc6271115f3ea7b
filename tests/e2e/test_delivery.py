"""Delivery tracking through a real Postfix: message records, per-recipient
status from Postfix's own log (maillog_file), sending statistics, and the
follower's promises: nothing counted twice after sesmilter is killed and
Postfix restarted, nothing lost across `postfix logrotate`.

Next hops (transport_maps): the default smtp-sink accepts; reject.example
goes to an smtp-sink that answers RCPT with 5xx (-f RCPT), defer.example to
one that answers 4xx (-r RCPT)."""

import json
import re
import time
from pathlib import Path

import harness as h

SENDER = "alice@example.com"


def sesctl_json(milter, *args):
    cp = h.sesctl("-c", str(milter.config_path), *args, "--json")
    return json.loads(cp.stdout)


def status_of(milter, mid):
    return {e["To"]: e for e in sesctl_json(milter, "status", mid)["EmailStatusList"]}


def totals(milter):
    return sesctl_json(milter, "stats")["Total"]


def wait_status(milter, mid, want: dict, timeout=40.0):
    """Wait until every recipient in `want` has that DeliverStatus."""
    last = {}

    def done():
        nonlocal last
        last = status_of(milter, mid)
        return all(r in last and last[r]["DeliverStatus"] == s for r, s in want.items())

    try:
        h.wait_for(done, timeout, interval=0.3, what=f"status {want}")
    except h.HarnessError as e:
        raise h.HarnessError(f"{e}\nlast status: {json.dumps(last, indent=1)}")
    return last


def message_id_from_log(milter, start=0):
    return milter.wait_log(r" id=([a-z2-7]{26})\b", 20, start=start).group(1)


def route_and_configure(mta, keys):
    reject = h.Sink(mta.dir / "sink-reject", h.free_port(), extra_args=["-f", "RCPT"]).start()
    defer = h.Sink(mta.dir / "sink-defer", h.free_port(), extra_args=["-r", "RCPT"]).start()
    mta.extra_sinks = [reject, defer]
    mta.postfix.postconf(
        transport_maps=(f"inline:{{reject.example=smtp:[{h.LOOPBACK}]:{reject.port}, "
                        f"defer.example=smtp:[{h.LOOPBACK}]:{defer.port}}}"))
    mta.postfix.reload()
    extra = (f'[mta]\nlog_file = "{mta.postfix.maillog_path}"\nlog_poll_interval = "1s"\n')
    cfg = mta.config({"example.com": [keys.rsa]}, extra=extra)
    return cfg


def test_delivery_status_stats_restart_and_rotation(mta, keys):
    cfg = route_and_configure(mta, keys)
    try:
        run_scenario(mta, keys, cfg)
    finally:
        for s in mta.extra_sinks:
            s.stop()


def run_scenario(mta, keys, cfg):
    m = mta.milter(cfg)
    rcpts = ["ok@ok.example", "r@reject.example", "d@defer.example"]
    msg = h.make_message(f"Alice <{SENDER}>", rcpts, "delivery test", "Hello.\n",
                         extra_headers=[("X-SES-Message-ID", "forged-by-client")])
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250
    mid = message_id_from_log(m)

    st = wait_status(m, mid, {"ok@ok.example": 1, "r@reject.example": 3, "d@defer.example": 8})
    assert st["ok@ok.example"]["SendStatus"] == 0
    assert st["ok@ok.example"]["DeliverTime"] >= st["ok@ok.example"]["RequestTime"] > 0
    assert "5.3.0" in st["r@reject.example"]["DeliverMessage"], st["r@reject.example"]
    assert st["r@reject.example"]["BounceType"] == "hard"
    assert "4.3.0" in st["d@defer.example"]["DeliverMessage"], st["d@defer.example"]
    for r in rcpts:
        for f in ("UserOpened", "UserClicked", "UserUnsubscribed", "UserComplainted"):
            assert st[r][f] is False

    # The delivered copy carries the id, once, covered by a valid signature.
    def ours():
        return [x for x in mta.sink.messages() if b"X-SES-Message-ID:" in x]
    h.wait_for(lambda: ours(), 20, what="delivered message")
    got = ours()[0]
    assert re.findall(rb"(?m)^X-SES-Message-ID: *(\S+)", got) == [mid.encode()], got.decode()
    sigs = h.dkim_signatures(got)
    assert len(sigs) == 1
    assert "x-ses-message-id" in [n.strip().lower() for n in sigs[0]["h"].split(":")]
    assert h.dkim_verify(got, keys.txt), got.decode()

    want = {"RequestCount": 3, "AcceptedCount": 3, "DeliveredCount": 1, "BounceCount": 1,
            "HardBounceCount": 1, "SoftBounceCount": 0, "DeferredCount": 1}
    t = totals(m)
    assert {k: t[k] for k in want} == want, t
    assert abs(t["DeliveredRate"] - 1 / 3) < 1e-9
    assert abs(t["BounceRate"] - 1 / 3) < 1e-9

    # sesmilter killed, Postfix stopped and started, the deferred message
    # retried (another deferral line): nothing counts twice.
    m.kill9()
    mta.postfix.stop()
    mta.postfix.start()
    m = mta.milter(cfg)
    lines_before = mta.postfix.maillog.count("status=deferred")
    mta.postfix.flush()
    h.wait_for(lambda: mta.postfix.maillog.count("status=deferred") > lines_before, 30,
               what="a new deferral line")
    time.sleep(3)  # three follower polls
    t = totals(m)
    assert {k: t[k] for k in want} == want, t
    assert status_of(m, mid)["d@defer.example"]["DeliverStatus"] == 8

    # postfix logrotate (rename, reload, gzip a second later), then a new
    # message: counted once, its delivery seen in the new file.
    log_start = len(m.log())
    h._run(["postfix", "-c", mta.postfix.config_dir, "logrotate"])
    h.wait_for(lambda: list(Path(mta.postfix.maillog_path).parent.glob("maillog.*")), 10,
               what="rotated maillog")
    msg2 = h.make_message(f"Alice <{SENDER}>", "ok2@ok.example", "after rotation", "Hello again.\n")
    code, _ = mta.send(msg2, mail_from=SENDER, rcpts=["ok2@ok.example"])
    assert code == 250
    mid2 = message_id_from_log(m, start=log_start)
    assert mid2 != mid
    wait_status(m, mid2, {"ok2@ok.example": 1})
    time.sleep(3)  # the gzip of the old file and more polls: still counted once
    want2 = dict(want, RequestCount=4, AcceptedCount=4, DeliveredCount=2)
    t = totals(m)
    assert {k: t[k] for k in want2} == want2, t

    # The recipient view and the events.
    by_rcpt = sesctl_json(m, "status", "--recipient", "r@reject.example")["EmailStatusList"]
    assert [e["MessageId"] for e in by_rcpt] == [mid]
    ev = sesctl_json(m, "events", "--type", "bounce")["Events"]
    assert [(e["MessageId"], e["To"], e["BounceType"]) for e in ev] == [(mid, "r@reject.example", "hard")]
