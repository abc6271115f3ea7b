"""Sendmail end to end: Debian's Sendmail 8.17 (unpacked beside Postfix by
sendmail_setup.sh) with the INPUT_MAIL_FILTER lines of examples/sendmail,
sesmilter on a unix socket, smtp-sink as the next hop.

What it proves (docs/sendmail.md): mail is signed and dkimpy verifies it;
the queue id macro {i} and {daemon_name} reach sesmilter; Sendmail's
stat=Sent lines (through a syslog socket the harness gives it) make the
recipient delivered in `sesctl status`; an oversized message is refused
with 552 5.3.4; with sesmilter stopped the client gets 451 4.3.2 (F=T) and
nothing is lost, before and in the middle of a session; a warm-up hold lands
in Sendmail's quarantine and `sesctl queue release-due` with
`[mta] kind = "sendmail"` releases it (sendmail -qQ -Q -qIQID, then
-qIQID), after which the sink has it, signed; sesmilter's own release
scheduler does the same; a quarantined message deleted by hand is not_held.

One Sendmail and one sink per module, stopped by PID; a sesmilter per test."""

import json
import os
import re
import shutil
import smtplib

import pytest

import harness as h
import sendmail_harness as sh

FROM = "sender@example.com"
RCPT = "rcpt@remote.test"
DAY1 = "2030-01-07T10:00:00Z"
DAY2 = "2030-01-08T10:00:01Z"


class Site:
    def __init__(self, root, sink, sendmail, milter_bin, sesctl_bin):
        self.milter_bin = milter_bin
        self.sesctl_bin = sesctl_bin
        self.root = root
        self.sink = sink
        self.sendmail = sendmail
        self.socket = root / "milter.sock"
        self.milters = []

    def config(self, domains, **kw):
        # Sendmail connects as root: the socket stays root's (mode 0660).
        return h.sesmilter_config(f"unix:{self.socket}", domains, socket_owner="", **kw)

    def milter(self, workdir, config_text, env=None, start=True):
        m = h.Sesmilter(self.milter_bin, config_text, workdir, env=env)
        m.sesctl_bin = self.sesctl_bin
        self.milters.append(m)
        if start:
            m.start()
        return m

    def send(self, msg, rcpts=(RCPT,)):
        return h.send(self.sendmail.port, FROM, list(rcpts), msg)


@pytest.fixture(scope="module")
def site(request, sesmilter_bin, sesctl_bin):
    root = sh.make_root("sendmail")
    sink = h.Sink(root / "sink", h.free_port()).start()
    sm = sh.Sendmail(root / "sendmail", h.free_port(), sink.port, root / "milter.sock",
                     syslog=True)
    try:
        sm.start()
        yield Site(root, sink, sm, sesmilter_bin, sesctl_bin)
    finally:
        sm.stop()
        sink.stop()
    if request.session.testsfailed or os.environ.get("SESMILTER_E2E_KEEP"):
        print(f"\n[e2e] sendmail work directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def s(site, request):
    """The module's Sendmail with an empty sink and queue; milters started
    through s.milter() are stopped at the end of the test."""
    site.sink.clear()
    assert site.sendmail.queue() == {}, "a previous test left mail in Sendmail's queue"
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)
    site.workdir = site.root / (name[:30] + "_" + str(abs(hash(name)) % 10**8))
    site.workdir.mkdir()
    yield site
    for m in site.milters:
        m.stop()
    # Shown by pytest only when the test failed.
    print("--- sendmail output\n" + h._tail(site.sendmail.output()))
    print("--- sendmail queue\n" + str(site.sendmail.queue()))
    print("--- sendmail syslog\n" + h._tail(site.sendmail.maillog))
    for m in site.milters:
        print(f"--- sesmilter log {m.log_path}\n" + h._tail(m.log()))
    site.milters.clear()


def _signed_ok(msg: bytes, keys) -> None:
    sigs = h.dkim_signatures(msg)
    assert [(x["d"], x["s"]) for x in sigs] == [("example.com", "s1")], sigs
    assert h.dkim_verify(msg, keys.txt), msg[:2000]


def test_signed_through_sendmail_and_verified_by_dkimpy(s, keys):
    m = s.milter(s.workdir, s.config({"example.com": [keys.rsa]}))
    code, reply = s.send(h.make_message(FROM, RCPT, "through sendmail", "Hello Sendmail.\n"))
    assert code == 250
    qid = sh.queue_id_of(reply)
    assert qid, reply
    (msg,) = s.sink.wait_count(1, 30)
    _signed_ok(msg, keys)
    assert b"by mta.sesmilter.test (8.17" in msg  # it did pass through Sendmail
    # confMILTER_MACROS_EOM of the example hands sesmilter Sendmail's queue id.
    m.wait_log(rf"{qid}: accept: identity=example\.com .*dkim=signed d=example\.com s=s1")
    s.sendmail.wait_queue_empty(30)


@pytest.mark.parametrize("daemons,signed", [(["MTA"], True), (["MSA"], False)])
def test_daemon_name_from_the_example_macros_decides_outbound(s, keys, daemons, signed):
    # Only {daemon_name} (DAEMON_OPTIONS Name=MTA, passed by the example's
    # confMILTER_MACROS_CONNECT) can make this loopback client outbound.
    extra = f"[outbound]\nnetworks = []\nauthenticated = false\ndaemons = {json.dumps(daemons)}\n"
    s.milter(s.workdir, s.config({"example.com": [keys.rsa]}, extra=extra))
    assert s.send(h.make_message(FROM, RCPT, "daemon name", "daemon name\n"))[0] == 250
    (msg,) = s.sink.wait_count(1, 30)
    assert bool(h.dkim_signatures(msg)) == signed
    s.sendmail.wait_queue_empty(30)


def test_oversized_message_refused_with_552_5_3_4(s, keys):
    m = s.milter(s.workdir, s.config({"example.com": [keys.rsa]}, max_message_size="100KB"))
    body = ("x" * 70 + "\n") * 3000  # ~213 KB
    with pytest.raises(h.SMTPReplyError) as e:
        s.send(h.make_message(FROM, RCPT, "too big", body))
    assert e.value.stage == "data"
    assert e.value.smtp_code == 552
    assert e.value.text.startswith("5.3.4 "), e.value.text
    m.wait_log(r"reject: 552 5\.3\.4 message size exceeds")
    # A message within the limit still goes through on the same milter.
    assert s.send(h.make_message(FROM, RCPT, "small", "small\n"))[0] == 250
    (msg,) = s.sink.wait_count(1, 30)
    assert b"Subject: small" in msg
    s.sendmail.wait_queue_empty(30)
    assert s.sink.count() == 1


def test_milter_stopped_tempfails_and_nothing_is_lost(s, keys):
    msg = h.make_message(FROM, RCPT, "kept by the client", "Try again later.\n")
    # No sesmilter at all: F=T answers 451 4.3.2 to MAIL; Sendmail keeps nothing.
    with pytest.raises(h.SMTPReplyError) as e:
        s.send(msg)
    assert (e.value.smtp_code, e.value.stage) == (451, "mail"), str(e.value)
    assert e.value.text.startswith("4.3.2 "), e.value.text
    assert s.sendmail.queue() == {}
    assert s.sink.count() == 0

    # The client still has it: once sesmilter runs, the retry is signed.
    m = s.milter(s.workdir, s.config({"example.com": [keys.rsa]}))
    assert s.send(msg)[0] == 250
    (got,) = s.sink.wait_count(1, 30)
    _signed_ok(got, keys)
    s.sendmail.wait_queue_empty(30)

    # sesmilter stops (SIGTERM, then kill -9) in the middle of a session,
    # after RCPT: the end of DATA gets 451 4.3.2, the message stays the client's.
    for stop in (m.stop, m.kill9):
        if not m.running():
            m.start()
        smtp = smtplib.SMTP(h.LOOPBACK, s.sendmail.port, local_hostname="client.sesmilter.test",
                            timeout=60)
        try:
            smtp.ehlo()
            assert smtp.mail(FROM)[0] == 250
            assert smtp.rcpt(RCPT)[0] == 250
            stop()
            code, text = smtp.data(h._crlf(h.make_message(FROM, RCPT, "cut off", "Cut off.\n")))
            assert (code, text[:6]) == (451, b"4.3.2 "), (stop.__name__, code, text)
        finally:
            smtp.close()
    assert s.sendmail.queue() == {}
    assert s.sink.count() == 1


def _wait_delivered(m, sm, mid, rcpt=RCPT, timeout=40.0):
    """Wait until `sesctl status MID` shows rcpt delivered (DeliverStatus 1)."""
    last = {}

    def done():
        nonlocal last
        cp = h._run([m.sesctl_bin, "-c", m.config_path, "status", mid, "--json"],
                    env=dict(os.environ, **(m.env or {})))
        last = {e["To"]: e for e in json.loads(cp.stdout)["EmailStatusList"]}
        return rcpt in last and last[rcpt]["DeliverStatus"] == 1
    try:
        h.wait_for(done, timeout, interval=0.3, what=f"{rcpt} delivered")
    except h.HarnessError as e:
        raise h.HarnessError(f"{e}\nlast status: {last}\nmaillog:\n{h._tail(sm.maillog)}")
    return last[rcpt]


def test_delivery_status_from_sendmail_stat_sent_lines(s, keys):
    cfg = s.config({"example.com": [keys.rsa]},
                   extra=f'[mta]\nlog_file = "{s.sendmail.maillog_path}"\nlog_poll_interval = "1s"\n')
    m = s.milter(s.workdir, cfg)
    code, reply = s.send(h.make_message(FROM, RCPT, "status", "status\n"))
    qid = sh.queue_id_of(reply)
    assert code == 250 and qid, reply
    mid = m.wait_log(rf"{qid}: accept: .* id=([a-z2-7]{{26}})\b", 20).group(1)
    s.sink.wait_count(1, 30)
    st = _wait_delivered(m, s.sendmail, mid)
    # The line the follower read: Sendmail's own, through its syslog(3).
    sent = [ln for ln in s.sendmail.maillog.splitlines()
            if f"{qid}: to=<{RCPT}>" in ln and "stat=Sent" in ln]
    assert len(sent) == 1, s.sendmail.maillog
    assert " sendmail[" in sent[0] and "dsn=2.0.0" in sent[0]
    assert st["To"] == RCPT
    s.sendmail.wait_queue_empty(30)


PLAN_ONE_A_DAY = 'ses.on("daily_limit", function(identity) return 1 end)\n'


def _warmup_config(s, keys, scheduler: bool) -> str:
    script = s.workdir / "plan.lua"
    script.write_text(PLAN_ONE_A_DAY)
    extra = f"""
[store]
path = "{s.workdir}/store"

[policy]
script = "{script}"

[warmup]
enabled = true
time_zone = "UTC"
hold_duration = "24h"
release_scheduler = {"true" if scheduler else "false"}
release_interval = "1s"

[mta]
kind = "sendmail"
config_directory = "{s.sendmail.dir}"
log_file = "{s.sendmail.maillog_path}"
log_poll_interval = "1s"
"""
    return s.config({"example.com": [keys.rsa]}, extra=extra)


def _sesctl(m, sm, now, *args):
    env = sh.env_with_sendmail(sm, SESMILTER_NOW=now)
    cp = h._run([m.sesctl_bin, "-c", m.config_path, "--now", now, *args, "--json"],
                env=env, timeout=120)
    return json.loads(cp.stdout) if cp.stdout.strip() else {}


def _hold_one(s, keys, scheduler=False):
    """Day 1, limit 1: the first message leaves, the second is quarantined."""
    cfg = _warmup_config(s, keys, scheduler)
    m = s.milter(s.workdir, cfg, env=sh.env_with_sendmail(s.sendmail, SESMILTER_NOW=DAY1))
    assert s.send(h.make_message(FROM, RCPT, "first", "first\n"))[0] == 250
    code, reply = s.send(h.make_message(FROM, RCPT, "second", "second\n"))
    assert code == 250  # held mail is accepted into the MTA
    qid = sh.queue_id_of(reply)
    assert qid, reply
    s.sink.wait_count(1, 30)
    h.wait_for(lambda: s.sendmail.queue() == {qid: "quarantined"}, 15,
               what=f"{qid} in Sendmail's quarantine")
    m.wait_log(rf"{qid}: accept: identity=example\.com warmup=held")
    assert "QUARANTINE: sesmilter warm-up: example.com over daily limit" in s.sendmail.mailq()
    assert s.sink.count() == 1
    return m, qid


def test_warmup_hold_in_quarantine_released_by_sesctl_with_the_sendmail_adapter(s, keys):
    m, qid = _hold_one(s, keys)
    held = _sesctl(m, s.sendmail, DAY1, "queue", "held")["held"]
    assert [e["queue_id"] for e in held] == [qid]

    # Not due yet: it stays quarantined.
    assert _sesctl(m, s.sendmail, DAY1, "queue", "release-due")["released"] == 0
    assert s.sendmail.queue() == {qid: "quarantined"}

    # Day 2: `sendmail -C.../sendmail.cf -qQ -Q -qIQID` then `-qIQID`.
    r = _sesctl(m, s.sendmail, DAY2, "queue", "release-due")
    assert r["released"] == 1 and r["queue_ids"] == [qid], r
    msgs = s.sink.wait_count(2, 60)
    second = [x for x in msgs if b"Subject: second" in x]
    assert len(second) == 1
    _signed_ok(second[0], keys)
    s.sendmail.wait_queue_empty(30)
    st = _sesctl(m, s.sendmail, DAY2, "warmup", "status", "example.com")
    assert st["today"]["released"] == 1 and st["held_messages"] == 0, st
    # The queue id survives the quarantine: its record gets the stat=Sent line.
    mid = m.wait_log(rf"{qid}: accept: .* id=([a-z2-7]{{26}})\b", 5).group(1)
    _wait_delivered(m, s.sendmail, mid)
    assert _sesctl(m, s.sendmail, DAY2, "queue", "held")["held"] == []


def test_warmup_hold_deleted_by_hand_is_not_held_for_the_adapter(s, keys):
    m, qid = _hold_one(s, keys)
    for p in s.sendmail.queue_dir.glob(f"*{qid}"):
        p.unlink()  # an operator removes the quarantined message
    r = _sesctl(m, s.sendmail, DAY2, "queue", "release-due")
    # Sendmail's -Q/-qI exit 0 whether they matched or not; the listing tells.
    assert (r["released"], r["not_held"]) == (0, 1), r
    assert _sesctl(m, s.sendmail, DAY2, "queue", "held")["held"] == []
    assert s.sink.count() == 1


def test_warmup_release_scheduler_in_sesmilter_releases_from_quarantine(s, keys):
    m, qid = _hold_one(s, keys, scheduler=True)
    m.stop()
    m.env = sh.env_with_sendmail(s.sendmail, SESMILTER_NOW=DAY2)
    m.start()  # the release thread runs at once
    msgs = s.sink.wait_count(2, 60)
    second = [x for x in msgs if b"Subject: second" in x]
    assert len(second) == 1
    _signed_ok(second[0], keys)
    s.sendmail.wait_queue_empty(30)
    assert _sesctl(m, s.sendmail, DAY2, "queue", "held")["held"] == []
