"""Open/click tracking and one-click unsubscribe, the mail side, through a
real Postfix: a tracked HTML message (quoted-printable HTML beside a text
part and an attachment) reaches the next hop with its links rewritten to
PUBLIC_URL/c/TOKEN, the open pixel before </body>, List-Unsubscribe and
List-Unsubscribe-Post added, the text part and the attachment unchanged,
and every DKIM signature verifying with python3-dkim, the List-Unsubscribe
fields covered and oversigned.  Then the HTTP side, through sesmilter's own
endpoint: the pixel marks the message opened, the click redirects to exactly
the original URL and is counted, an altered or forged token gets 404 and
records nothing, the unsubscribe GET only shows a page, and the one-click
POST (RFC 8058) puts the address on the suppression list."""

import email
import email.policy
import http.client
import json
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
                     extra=f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\n[http]\npublic_url = "{PUBLIC}/"\n')
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
                     extra=f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\n[http]\npublic_url = "{PUBLIC}"\n')
    m = mta.milter(cfg)
    msg = tracked_message()
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=[RCPT])
    assert code == 250
    got = mta.sink.wait_count(1, 30)[0]
    assert h.dkim_verify(got, keys.txt)
    head, body = got.split(b"\r\n\r\n", 1)
    assert not re.search(rb"^List-Unsubscribe", head, re.M | re.I), head
    assert body == msg.split(b"\r\n\r\n", 1)[1]


def request(port, method, path, body=None, headers=None):
    """One HTTP request, redirects not followed: (status, headers, body)."""
    c = http.client.HTTPConnection(h.LOOPBACK, port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def test_pixel_click_forgery_and_one_click_unsubscribe_over_http(mta, keys):
    port = h.free_port()
    public = f"http://{h.LOOPBACK}:{port}"
    cfg = mta.config({"example.com": [keys.rsa]},
                     extra=f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\n'
                           f'[http]\nlisten = ["{h.LOOPBACK}:{port}"]\npublic_url = "{public}"\n')
    cfg = cfg.replace('name = "example.com"',
                      'name = "example.com"\ntrack_opens = true\ntrack_clicks = true\nunsubscribe = true')
    m = mta.milter(cfg)
    start = len(m.log())
    assert mta.send(tracked_message(), mail_from=SENDER, rcpts=[RCPT])[0] == 250
    mid = m.wait_log(r"accept:.* id=([a-z2-7]{26})", 20, start=start).group(1)
    got = mta.sink.wait_count(1, 30)[0]
    parsed = email.message_from_bytes(got, policy=email.policy.default)
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html").get_content()
    pixel = re.search(re.escape(public) + r"(/o/[A-Za-z0-9_-]{40})", html).group(1)
    link = re.search(re.escape(public) + r"(/c/[A-Za-z0-9_-]{40})", html).group(1)
    unsub = re.search(r"^List-Unsubscribe: <" + re.escape(public) + r"(/u/[A-Za-z0-9_-]{40})>",
                      got.decode(), re.M).group(1)

    def status():
        cp = h.sesctl("-c", str(m.config_path), "status", mid, "--json")
        return json.loads(cp.stdout)["EmailStatusList"][0]

    def events(kind):
        cp = h.sesctl("-c", str(m.config_path), "events", "--type", kind, "--json")
        return [e for e in json.loads(cp.stdout)["Events"] if e["MessageId"] == mid]

    assert status()["UserOpened"] is False and status()["UserClicked"] is False

    # A forged token (one character changed) and an unknown one: 404, no
    # redirect, nothing recorded.
    for bad in (link[:-1] + ("A" if link[-1] != "A" else "B"), "/c/" + "x" * 40, pixel[:10] + "Z" + pixel[11:]):
        code, hdrs, _ = request(port, "GET", bad)
        assert code == 404, (bad, code)
        assert "Location" not in hdrs
    assert events("click") == [] and events("open") == []

    # The pixel: a GIF, the message opened (twice: one unique open).
    for _ in range(2):
        code, hdrs, body = request(port, "GET", pixel, headers={"User-Agent": "e2e-mail-client"})
        assert code == 200 and hdrs["Content-Type"] == "image/gif" and body.startswith(b"GIF89a")
    assert status()["UserOpened"] is True
    opens = events("open")
    assert len(opens) == 2 and "e2e-mail-client" in opens[0]["Text"], opens

    # The click: a redirect to exactly the original URL (the &amp; decoded).
    code, hdrs, _ = request(port, "GET", link)
    assert code == 302, code
    assert hdrs["Location"] == "https://example.com/offer?a=1&b=2", hdrs
    assert status()["UserClicked"] is True
    assert len(events("click")) == 1

    # Unsubscribe: the GET shows a page and changes nothing; the one-click
    # POST (no cookie, no key) suppresses the address.
    code, _, body = request(port, "GET", unsub)
    assert code == 200 and b"<form method=\"post\"" in body and RCPT.encode() in body
    assert status()["UserUnsubscribed"] is False
    code, _, _ = request(port, "POST", unsub, body="List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 200
    assert status()["UserUnsubscribed"] is True
    listed = json.loads(h.sesctl("-c", str(m.config_path), "suppression", "list", "--json").stdout)["Suppressed"]
    assert [(e["Address"], e["Reason"]) for e in listed] == [(RCPT, "unsubscribe")], listed
    code, _, _ = request(port, "POST", "/u/" + "y" * 40, body="List-Unsubscribe=One-Click")
    assert code == 404

    stats = json.loads(h.sesctl("-c", str(m.config_path), "stats", "--json").stdout)
    text = json.dumps(stats)
    assert '"OpenedCount": 2' in text and '"ClickedCount": 1' in text and '"UnsubscribeCount": 1' in text, text
