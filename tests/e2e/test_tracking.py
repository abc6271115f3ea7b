"""Open/click tracking and one-click unsubscribe, the mail side, through a
real Postfix: a tracked HTML message (quoted-printable HTML beside a text
part and an attachment) reaches the next hop with its links rewritten to
PUBLIC_URL/c/TOKEN, the open pixel before </body>, List-Unsubscribe and
List-Unsubscribe-Post added, the text part and the attachment unchanged,
and every DKIM signature verifying with python3-dkim, the List-Unsubscribe
fields covered and oversigned.  The HTTP side (/o, /c, /u) is the lead's,
after wiring the handlers (records::Tracking) to routes."""

import email
import email.policy
import re

import harness as h

SENDER = "news@example.com"
RCPT = "reader@remote.test"
PUBLIC = "http://127.0.0.1:8025"
TEXT_PART = ("--A\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
             "Caf=C3=A9: https://example.com/plain\r\n")
ATTACHMENT = ("--B\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n"
              "JVBERi0xLjQKJcfsj6IK\r\n")


def tracked_message():
    msg = h.make_message(f"News <{SENDER}>", RCPT, "tracked news", "x\n")
    head, _ = msg.split(b"\r\n\r\n", 1)
    head = head.replace(b"Content-Type: text/plain; charset=us-ascii",
                        b'Content-Type: multipart/mixed; boundary="B"')
    body = ("This is a MIME message.\r\n"
            "--B\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
            + TEXT_PART +
            "--A\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "<html><body><p>Caf=C3=A9 <a href=3D\"https://example.com/offer?a=3D1&amp;b=3D2\">offer</a>=\r\n"
            " <a href=3D\"mailto:help@example.com\">help</a></p></body></html>\r\n"
            "--A--\r\n\r\n" + ATTACHMENT + "--B--\r\n")
    return head + b"\r\n\r\n" + body.encode()


def test_tracked_html_is_rewritten_and_verifies(mta, keys):
    cfg = mta.config({"example.com": [keys.rsa, keys.ed]},
                     extra=f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\npublic_url = "{PUBLIC}/"\n')
    cfg = cfg.replace('name = "example.com"',
                      'name = "example.com"\ntrack_opens = true\ntrack_clicks = true\nunsubscribe = true')
    m = mta.milter(cfg)
    start = len(m.log())
    code, _ = mta.send(tracked_message(), mail_from=SENDER, rcpts=[RCPT])
    assert code == 250
    line = m.wait_log(r"accept:.* tracking=links:1,pixel unsubscribe=one-click.* id=([a-z2-7]{26})", 20,
                      start=start)
    got = mta.sink.wait_count(1, 30)[0]

    results = h.dkim_verify_each(got, keys.txt)
    assert len(results) == 2 and all(r["ok"] for r in results), results
    head = got.split(b"\r\n\r\n", 1)[0].decode()
    unsub = re.search(r"^List-Unsubscribe: <" + re.escape(PUBLIC) + r"/u/([A-Za-z0-9_-]{40})>\r$", head, re.M)
    assert unsub, head
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head + "\r\n"
    sig = got[got.find(b"DKIM-Signature:"):].split(b"\r\n\r\n")[0].lower()
    hval = re.sub(rb"\s", b"", re.search(rb"[\s;]h=([^;]*)", sig).group(1)).split(b":")
    assert hval.count(b"list-unsubscribe") == 2 and hval.count(b"list-unsubscribe-post") == 2, hval

    parsed = email.message_from_bytes(got, policy=email.policy.default)
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html")
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.get_content_charset() == "utf-8"
    text = html.get_content()
    assert "https://example.com/offer" not in text
    assert re.search(r'<a href="' + re.escape(PUBLIC) + r'/c/[A-Za-z0-9_-]{40}">offer</a>', text), text
    assert 'href="mailto:help@example.com"' in text
    assert re.search(r'<img src="' + re.escape(PUBLIC) + r'/o/[A-Za-z0-9_-]{40}"[^>]*></body>', text), text
    assert "Café" in text
    # The text part and the attachment, byte for byte.
    assert TEXT_PART.encode() in got
    assert ATTACHMENT.encode() in got


def test_untracked_identity_is_left_alone(mta, keys):
    cfg = mta.config({"example.com": [keys.rsa]},
                     extra=f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\npublic_url = "{PUBLIC}"\n')
    m = mta.milter(cfg)
    msg = tracked_message()
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=[RCPT])
    assert code == 250
    got = mta.sink.wait_count(1, 30)[0]
    assert h.dkim_verify(got, keys.txt)
    head, body = got.split(b"\r\n\r\n", 1)
    assert not re.search(rb"^List-Unsubscribe", head, re.M | re.I), head
    assert body == msg.split(b"\r\n\r\n", 1)[1]
