"""Body lines over 998 octets through a real Postfix.

Postfix's SMTP client folds such lines (smtp_line_length_limit = 998) after
sesmilter signed the message, so the body hash would fail at the receiver.
sesmilter re-encodes text parts as quoted-printable before signing, or
refuses what it cannot re-encode with 554 5.6.0 (dkim.long_lines).  Checked
with python3-dkim on what smtp-sink received."""

import email
import email.policy

import pytest

import harness as h

RCPT = "rcpt@remote.test"
LONG_TEXT = "".join(chr(ord("a") + i % 26) for i in range(2000))
LONG_HTML = "<p>" + "x" * 1993 + "</p>"


def mime_message(content_type, body, extra_headers=None):
    """A MIME message whose top-level Content-Type and body are given."""
    msg = h.make_message("Alice <alice@example.com>", RCPT, "long lines", "x\n",
                         extra_headers=extra_headers)
    head, _ = msg.split(b"\r\n\r\n", 1)
    head = head.replace(b"Content-Type: text/plain; charset=us-ascii",
                        b"Content-Type: " + content_type.encode())
    return head + b"\r\n\r\n" + body.replace("\n", "\r\n").encode()


def both_keys(mta, keys, extra=""):
    mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}, extra=extra))


def deliver(mta, msg):
    code, _ = mta.send(msg, mail_from="alice@example.com")
    assert code == 250
    got = mta.sink.wait_count(1, 30)
    assert len(got) == 1
    return got[0]


def assert_all_signatures_pass(got, keys):
    results = h.dkim_verify_each(got, keys.txt)
    assert len(results) == 2, got[:3000].decode(errors="replace")
    assert all(r["ok"] for r in results), results
    # nothing the receiver got has a line over 998 octets
    assert max(len(l) for l in got.split(b"\r\n")) <= 998


def refused(mta, msg):
    with pytest.raises(h.SMTPReplyError) as ei:
        mta.send(msg, mail_from="alice@example.com")
    err = ei.value
    assert err.smtp_code == 554, err
    assert "5.6.0" in err.text and "998" in err.text, err
    mta.postfix.wait_queue_empty(20)
    assert mta.sink.messages() == []
    return err


def test_text_plain_long_lines_reencoded_and_verify(mta, keys):
    # 200 long lines (400 KB): also past the spool threshold.
    text = "first line\n" + (LONG_TEXT + "\n") * 200 + "last line\n"
    both_keys(mta, keys)
    got = deliver(mta, mime_message("text/plain; charset=us-ascii", text))
    assert_all_signatures_pass(got, keys)
    parsed = email.message_from_bytes(got, policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().replace("\r\n", "\n") == text


def test_text_and_html_parts_reencoded_attachment_kept(mta, keys):
    attachment = ("--B\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
                  "Content-Disposition: attachment; filename=\"a.pdf\"\n\nJVBERi0xLjQK\n")
    body = ("This is a MIME message.\n"
            "--B\nContent-Type: multipart/alternative; boundary=\"A\"\n\n"
            "--A\nContent-Type: text/plain; charset=utf-8\n\n" + LONG_TEXT + "\n"
            "--A\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            + LONG_HTML + "\n--A--\n\n" + attachment + "--B--\n")
    both_keys(mta, keys)
    got = deliver(mta, mime_message('multipart/mixed; boundary="B"', body))
    assert_all_signatures_pass(got, keys)
    parsed = email.message_from_bytes(got, policy=email.policy.default)
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content().rstrip("\r\n") == LONG_TEXT
    assert html.get_content().rstrip("\r\n") == LONG_HTML
    assert attachment.replace("\n", "\r\n").encode() in got  # byte for byte
    [att] = list(parsed.iter_attachments())
    assert att.get_content() == b"%PDF-1.4\n"


def test_attachment_with_long_line_refused(mta, keys):
    body = ("--B\nContent-Type: text/plain\n\nsee attachment\n"
            "--B\nContent-Type: application/octet-stream\n\n" + LONG_TEXT + "\n--B--\n")
    both_keys(mta, keys)
    err = refused(mta, mime_message('multipart/mixed; boundary="B"', body))
    assert "application/octet-stream" in err.text, err


def test_multipart_signed_with_long_line_refused(mta, keys):
    body = ("--S\nContent-Type: text/plain\n\n" + LONG_TEXT + "\n"
            "--S\nContent-Type: application/pgp-signature\n\nsig\n--S--\n")
    both_keys(mta, keys)
    err = refused(mta, mime_message(
        'multipart/signed; boundary="S"; protocol="application/pgp-signature"; micalg=pgp-sha256',
        body))
    assert "multipart/signed" in err.text, err


def test_reject_policy_refuses_text_too(mta, keys):
    both_keys(mta, keys, extra='[dkim]\nlong_lines = "reject"')
    refused(mta, mime_message("text/plain; charset=us-ascii", LONG_TEXT + "\n"))


def test_large_message_without_long_lines_is_spooled_and_verifies(mta, keys):
    text = ("z" * 99 + "\n") * 10_000  # 1 MB: spooled, streamed to both signers
    both_keys(mta, keys)
    got = deliver(mta, mime_message("text/plain; charset=us-ascii", text))
    assert_all_signatures_pass(got, keys)
    assert b"quoted-printable" not in got
