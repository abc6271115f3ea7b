"""Messages sesmilter refuses: too large, not exactly one From: header.
A refused message must get the documented SMTP reply and never reach the
next hop (checked by sending a marker message afterwards)."""

import pytest

import harness as h

RCPT = "rcpt@remote.test"


def assert_only_marker_delivered(mta, keys):
    """Send a good message; it must be the only one the sink ever got."""
    marker = h.make_message("alice@example.com", RCPT, "marker", "marker\n")
    assert mta.send(marker, mail_from="alice@example.com")[0] == 250
    msgs = mta.sink.wait_count(1, 20)
    mta.postfix.wait_queue_empty(20)
    msgs = mta.sink.messages()
    assert [h.message_id(m) for m in msgs] == [h.message_id(marker)]
    assert h.dkim_verify(msgs[0], keys.txt)


def expect_refusal(mta, msg, mail_from="alice@example.com") -> h.SMTPReplyError:
    with pytest.raises(h.SMTPReplyError) as ei:
        mta.send(msg, mail_from=mail_from)
    return ei.value


def test_oversize_message_rejected_552(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}, max_message_size="64KB"))
    big = h.make_message("alice@example.com", RCPT, "big",
                         ("y" * 99 + "\n") * 1000)  # ~100 KB
    assert len(big) > 100_000
    err = expect_refusal(mta, big)
    assert err.smtp_code == 552, err
    assert "5.3.4" in err.text, err
    assert_only_marker_delivered(mta, keys)


def test_message_under_limit_is_signed(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}, max_message_size="64KB"))
    msg = h.make_message("alice@example.com", RCPT, "fits",
                         ("z" * 99 + "\n") * 550)  # ~55 KB
    assert 50_000 < len(msg) < 60_000
    assert mta.send(msg, mail_from="alice@example.com")[0] == 250
    got = mta.sink.wait_count(1, 20)[0]
    assert h.dkim_verify(got, keys.txt)


def test_missing_from_rejected_554(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}))
    msg = h.make_message(None, RCPT, "no from", "who sent this?\n")
    assert b"\r\nFrom:" not in msg and not msg.startswith(b"From:")
    err = expect_refusal(mta, msg)
    assert err.smtp_code == 554, err
    assert "5.6.0" in err.text, err
    assert_only_marker_delivered(mta, keys)


def test_two_from_headers_rejected_554(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}))
    msg = h.make_message("alice@example.com", RCPT, "two froms", "hmm\n",
                         extra_headers=[("From", "mallory@example.com")])
    err = expect_refusal(mta, msg)
    assert err.smtp_code == 554, err
    assert "5.6.0" in err.text, err
    assert_only_marker_delivered(mta, keys)


def _session(mta):
    import smtplib
    s = smtplib.SMTP(h.LOOPBACK, mta.port, local_hostname="client.sesmilter.test", timeout=60)
    assert s.ehlo()[0] == 250
    return s


@pytest.mark.parametrize("body", ["", "body line\n"])
def test_refusal_does_not_leak_into_next_transaction(mta, keys, body):
    """#9.7: an oversized header block is refused; the next message on the
    same SMTP session must not inherit that answer (its RCPT got 552)."""
    mta.milter(mta.config({"example.com": [keys.rsa]}, max_message_size="2KB"))
    big = h.make_message("alice@example.com", RCPT, "big headers", body,
                         extra_headers=[("X-Filler", "f" * 900)] * 4)
    good = h.make_message("alice@example.com", RCPT, "second", "fine\n")
    s = _session(mta)
    try:
        assert s.mail("alice@example.com")[0] == 250
        assert s.rcpt(RCPT)[0] == 250
        code, text = s.data(big)
        assert code == 552, (code, text)
        assert b"5.3.4" in text
        # The next transaction on the same connection.
        assert s.mail("alice@example.com")[0] == 250
        code, text = s.rcpt(RCPT)
        assert code == 250, (code, text)
        code, text = s.data(good)
        assert code == 250, (code, text)
    finally:
        s.quit()
    got = mta.sink.wait_count(1, 20)
    assert [h.message_id(m) for m in got] == [h.message_id(good)]
    assert h.dkim_verify(got[0], keys.txt)


def _exact_message(size: int) -> bytes:
    """A message of exactly `size` bytes as stored (CRLF lines, the blank
    line, the body)."""
    msg = h.make_message("alice@example.com", RCPT, "exact", "")
    pad = size - len(msg)
    assert pad > 2
    line = 78
    body = b""
    while pad - len(body) > line + 2:
        body += b"x" * line + b"\r\n"
    body += b"y" * (pad - len(body) - 2) + b"\r\n"
    out = msg + body
    assert len(out) == size
    return out


def test_message_of_exactly_the_limit_is_accepted(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}, max_message_size="4KB"))
    msg = _exact_message(4000)
    assert mta.send(msg, mail_from="alice@example.com")[0] == 250
    got = mta.sink.wait_count(1, 20)[0]
    assert h.dkim_verify(got, keys.txt)


def test_message_one_byte_over_the_limit_is_rejected(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}, max_message_size="4KB"))
    err = expect_refusal(mta, _exact_message(4001))
    assert err.smtp_code == 552, err
    assert "5.3.4" in err.text, err
    assert_only_marker_delivered(mta, keys)
