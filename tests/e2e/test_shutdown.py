"""SIGTERM: an idle sesmilter stops within a second; a message in progress
when the signal arrives still gets its answer (250, delivered signed);
milter.drain_time bounds the wait."""

import smtplib
import time

import harness as h

RCPT = "rcpt@remote.test"
FROM = "alice@example.com"


def open_data(port, msg):
    """An SMTP session stopped in the middle of DATA: returns the client and
    the rest of the message to send."""
    s = smtplib.SMTP(h.LOOPBACK, port, timeout=60)
    s.ehlo("client.test")
    assert s.mail(FROM)[0] == 250
    assert s.rcpt(RCPT)[0] == 250
    s.putcmd("data")
    code, _ = s.getreply()
    assert code == 354
    data = h._crlf(msg)
    half = len(data) // 2
    s.send(data[:half])
    return s, data[half:]


def finish_data(s, rest):
    if not rest.endswith(b"\r\n"):
        rest += b"\r\n"
    s.send(rest + b".\r\n")
    code, text = s.getreply()
    try:
        s.quit()
    except smtplib.SMTPException:
        pass
    return code, text


def test_idle_stop_is_quick(mta, keys):
    milter = mta.milter(mta.config({"example.com": [keys.rsa]}))
    # one message first, so that libmilter's pool has sessions behind it
    msg = h.make_message(FROM, RCPT, "before", "before the stop\n")
    assert mta.send(msg, mail_from=FROM)[0] == 250
    mta.sink.wait_count(1, 20)
    time.sleep(0.5)
    t0 = time.monotonic()
    rc = milter.stop()
    took = time.monotonic() - t0
    assert rc == 0, milter.log()
    assert took < 1.5, f"an idle stop took {took:.2f}s"


def test_message_in_progress_at_sigterm_gets_its_250_and_is_signed(mta, keys):
    milter = mta.milter(mta.config({"example.com": [keys.rsa]}))
    msg = h.make_message(FROM, RCPT, "drain", "in flight when SIGTERM came\n" * 20)
    s, rest = open_data(mta.port, msg)
    offset = len(milter.log())
    milter.proc.send_signal(15)
    milter.wait_log(r"stopping: 1 messages in progress", timeout=10, start=offset)
    time.sleep(1.0)
    assert milter.running(), "sesmilter left before the message in progress was answered"
    code, text = finish_data(s, rest)
    assert code == 250, (code, text)
    rc = milter.proc.wait(15)
    assert rc == 0, milter.log()
    got = mta.sink.wait_count(1, 30)
    got = [m for m in mta.sink.messages() if h.message_id(m) == h.message_id(msg)]
    assert len(got) == 1
    assert [s["d"] for s in h.dkim_signatures(got[0])] == ["example.com"]
    assert h.dkim_verify(got[0], keys.txt)


def test_drain_time_bounds_the_wait(mta, keys):
    config = mta.config({"example.com": [keys.rsa]})
    milter = mta.milter(config.replace("[milter]\n", '[milter]\ndrain_time = "1s"\n', 1))
    msg = h.make_message(FROM, RCPT, "stuck", "never finished\n")
    s, _ = open_data(mta.port, msg)
    try:
        t0 = time.monotonic()
        milter.proc.send_signal(15)
        rc = milter.proc.wait(15)
        took = time.monotonic() - t0
        assert rc == 0
        assert 0.9 <= took < 3.0, f"stop took {took:.2f}s with drain_time = 1s"
        assert "drain_time passed with 1 messages in progress" in milter.log()
    finally:
        s.close()


def test_new_transaction_during_drain_gets_421(mta, keys):
    milter = mta.milter(mta.config({"example.com": [keys.rsa]}))
    busy_msg = h.make_message(FROM, RCPT, "busy", "keeps the drain going\n")
    busy, rest = open_data(mta.port, busy_msg)
    idle = smtplib.SMTP(h.LOOPBACK, mta.port, timeout=60)
    idle.ehlo("idle.test")  # its milter connection is open, no transaction yet
    offset = len(milter.log())
    milter.proc.send_signal(15)
    milter.wait_log(r"stopping: 1 messages in progress", timeout=10, start=offset)
    # Postfix does not wait for the answer to MAIL (a no-reply step): it
    # comes at RCPT
    assert idle.mail(FROM)[0] == 250
    code, text = idle.rcpt(RCPT)
    assert code == 421 and b"4.3.2" in text, (code, text)
    # no new connections while draining: the socket is gone
    assert not mta.socket.exists()
    code, text = finish_data(busy, rest)
    assert code == 250, (code, text)
    assert milter.proc.wait(15) == 0


def test_idle_stop_is_quick_on_tcp(sesmilter_bin, e2e_root):
    port = h.free_port()
    m = h.Sesmilter(sesmilter_bin, h.sesmilter_config(f"inet:{port}@127.0.0.1", {}, socket_owner=""),
                    e2e_root / "stop_tcp")
    m.start()
    t0 = time.monotonic()
    rc = m.stop()
    took = time.monotonic() - t0
    assert rc == 0, m.log()
    assert took < 1.5, f"an idle stop took {took:.2f}s"


def test_signals_right_after_start_are_ours(sesmilter_bin, e2e_root):
    """libmilter's own signal thread stops the milter, without draining, on
    any SIGHUP or SIGTERM it gets; sesmilter must get every one instead (a
    SIGTERM just after start-up used to leave a daemon that never stopped,
    a SIGHUP one that stopped)."""
    port = h.free_port()
    m = h.Sesmilter(sesmilter_bin, h.sesmilter_config(f"inet:{port}@127.0.0.1", {}, socket_owner=""),
                    e2e_root / "signals_at_start")
    for i in range(25):
        m.start()
        t0 = time.monotonic()
        rc = m.stop()
        took = time.monotonic() - t0
        assert rc == 0 and took < 2, (i, rc, took, h._tail(m.log(), 8))
    for i in range(5):
        offset = len(m.log())
        m.start()
        m.hup()
        m.wait_log(r"reload: configuration and keys reloaded", timeout=10, start=offset)
        time.sleep(0.2)
        assert m.running(), h._tail(m.log(), 8)
        assert m.stop() == 0
