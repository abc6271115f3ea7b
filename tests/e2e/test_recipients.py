"""One recipient per message through a real Postfix: an identity with
`one_recipient_per_message = true` gets 250 for the first RCPT of a
transaction and 452 4.5.3 for every later one (the milter's reply, passed on
by Postfix), and only the first recipient's message reaches the sink.

smtplib's sendmail() raises SMTPRecipientsRefused only when every recipient
fails, so the RCPTs are sent one by one with s.rcpt()."""

import smtplib
import time

import harness as h

SENDER = "news@example.com"


def addr(sink_rcpt: str) -> str:
    """'<a@x> ORCPT=rfc822;a@x' (the sink's record) -> 'a@x'."""
    return sink_rcpt.split()[0].strip("<>")


def test_one_recipient_per_message_defers_later_rcpts(mta, keys):
    cfg = mta.config({"example.com": [keys.rsa]})
    cfg = cfg.replace('name = "example.com"', 'name = "example.com"\none_recipient_per_message = true')
    m = mta.milter(cfg)

    rcpts = ["a@remote.test", "b@remote.test", "c@remote.test"]
    msg = h.make_message(f"News <{SENDER}>", rcpts, "November news", "Hello.\n")
    s = smtplib.SMTP(h.LOOPBACK, mta.port, local_hostname="client.sesmilter.test", timeout=60)
    try:
        assert s.ehlo()[0] == 250
        assert s.mail(SENDER)[0] == 250
        replies = [s.rcpt(r) for r in rcpts]
        assert replies[0][0] == 250, replies
        for code, text in replies[1:]:
            assert code == 452, replies
            assert b"4.5.3" in text, text
            assert b"one recipient per message" in text, text
        code, _ = s.data(msg)
        assert code == 250
    finally:
        s.quit()

    mta.sink.wait_count(1, 30)
    mta.postfix.wait_queue_empty(20)
    time.sleep(1)
    deliveries = mta.sink.deliveries()
    assert len(deliveries) == 1, [d.rcpts for d in deliveries]
    assert [addr(r) for r in deliveries[0].rcpts] == ["a@remote.test"], deliveries[0].rcpts
    assert m.log().count("tempfail RCPT: 452 4.5.3") == 2, m.log()


def test_without_the_key_all_recipients_are_taken(mta, keys):
    m = mta.milter(mta.config({"example.com": [keys.rsa]}))
    rcpts = ["a@remote.test", "b@remote.test"]
    msg = h.make_message(f"News <{SENDER}>", rcpts, "November news", "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250
    mta.sink.wait_count(1, 30)
    mta.postfix.wait_queue_empty(20)
    got = [addr(r) for d in mta.sink.deliveries() for r in d.rcpts]
    assert sorted(got) == rcpts, got
    assert "4.5.3" not in m.log()
