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
