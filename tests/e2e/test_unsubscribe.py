"""Unsubscribe by mail and the {{unsubscribe_url}} template variable, through
a real Postfix (docs/tracking.md).

An identity with `unsubscribe = true` and a return_path_domain gets
`List-Unsubscribe: <PUBLIC/u/TOKEN>, <mailto:unsub-TOKEN@RETURN_PATH?...>`,
covered by a verifying DKIM signature.  A mail to that address, sent
through the same Postfix, is accepted (250) and consumed: nothing reaches
the sink, the recipient is unsubscribed (status, `unsubscribe` event,
suppression list entry for the identity).  A forged address is refused at
RCPT with 550 5.1.1.

A template using {{unsubscribe_url}} is delivered with the same URL in its
body as in List-Unsubscribe (a client's TemplateData cannot set it), and
POSTing that URL unsubscribes."""

import email
import email.policy
import json
import re
import time

import pytest

import harness as h
from test_tracking import request

SENDER = "news@example.com"
RCPT = "reader@remote.test"
RP = "bounce.example.com"


def start_milter(mta, keys, port=None, extra=""):
    public = f"http://{h.LOOPBACK}:{port or 8025}"
    http = f'listen = ["{h.LOOPBACK}:{port}"]\n' if port else ""
    cfg = mta.config({"example.com": [keys.rsa]},
                     extra=f'[store]\npath = "{mta.dir / "store"}"\n'
                           f'[tracking]\nkeys = ["1:e2e-tracking-secret-0123"]\n'
                           f'[return_path]\nkeys = ["1:e2e-secret-0123456789"]\n'
                           f'[http]\n{http}public_url = "{public}"\n' + extra)
    cfg = cfg.replace('name = "example.com"',
                      f'name = "example.com"\nunsubscribe = true\nreturn_path_domain = "{RP}"')
    return mta.milter(cfg), public


def ctl(m, *args):
    return json.loads(h.sesctl("-c", str(m.config_path), *args, "--json").stdout)


def status(m, mid):
    return ctl(m, "status", mid)["EmailStatusList"][0]


def unsubscribe_events(m, mid):
    return [e for e in ctl(m, "events", "--type", "unsubscribe")["Events"] if e["MessageId"] == mid]


def list_unsubscribe(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return re.sub(r"\s+", " ", str(parsed["List-Unsubscribe"]))


def test_mailto_unsubscribe_through_postfix(mta, keys):
    m, public = start_milter(mta, keys)
    start = len(m.log())
    msg = h.make_message(f"News <{SENDER}>", [RCPT], "November news", "Hello.\n")
    assert mta.send(msg, mail_from=SENDER, rcpts=[RCPT])[0] == 250
    mid = m.wait_log(r"accept:.* unsubscribe=one-click,mailto.* id=([a-z2-7]{26})", 20, start=start).group(1)
    got = mta.sink.wait_count(1, 30)[0]
    assert h.dkim_verify(got, keys.txt), got.decode()
    field = list_unsubscribe(got)
    match = re.fullmatch(r"<" + re.escape(public) + r"/u/[A-Za-z0-9_-]{40}>, "
                         r"<mailto:(unsub-[a-z2-7]{48}@" + re.escape(RP) + r")\?subject=unsubscribe>", field)
    assert match, field
    address = match.group(1)
    sig = got[got.find(b"DKIM-Signature:"):].split(b"\r\n\r\n")[0].lower()
    assert b"list-unsubscribe" in sig
    mta.sink.clear()
    assert status(m, mid)["UserUnsubscribed"] is False

    # A forged address (one character changed): 550 5.1.1 at RCPT.
    local = address.split("@")[0]
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + RP
    reply = h.make_message(f"Reader <{RCPT}>", [address], "unsubscribe", "Please unsubscribe me.\n")
    with pytest.raises(h.SMTPReplyError) as e:
        mta.send(reply, mail_from=RCPT, rcpts=[forged])
    assert e.value.smtp_code == 550 and "5.1.1" in e.value.text, e.value.text
    assert status(m, mid)["UserUnsubscribed"] is False

    # The real one, as a mail client sends it: 250, consumed, unsubscribed.
    start = len(m.log())
    assert mta.send(reply, mail_from=RCPT, rcpts=[address])[0] == 250
    m.wait_log(r"discard:.* unsubscribe=" + mid, 20, start=start)
    st = status(m, mid)
    assert st["UserUnsubscribed"] is True, st
    events = unsubscribe_events(m, mid)
    assert len(events) == 1 and events[0]["To"] == RCPT and events[0]["Text"] == "mailto", events
    listed = ctl(m, "suppression", "list")["Suppressed"]
    assert [(e["Address"], e["Reason"]) for e in listed] == [(RCPT, "unsubscribe")], listed
    mta.postfix.wait_queue_empty(20)
    time.sleep(1)
    assert mta.sink.count() == 0, [d.mail_from for d in mta.sink.deliveries()]


def test_unsubscribe_url_template_variable(mta, keys):
    port = h.free_port()
    m, public = start_milter(mta, keys, port)
    h.wait_port(port)
    files = mta.dir / "tpl"
    files.mkdir(exist_ok=True)
    (files / "news.txt").write_text("Hello {{name}}.\nUnsubscribe: {{unsubscribe_url}}\n")
    h.sesctl("-c", str(m.config_path), "template", "put", "news", "--subject", "News for {{name}}",
             "--text", str(files / "news.txt"))
    # The client's own unsubscribe_url is ignored: the variable is reserved.
    data = {"name": "Ana", "unsubscribe_url": "https://evil.example/"}
    msg = h.make_message(f"News <{SENDER}>", RCPT, "(set by the template)", "x\n",
                         extra_headers=[("X-SES-Template", "news"), ("X-SES-Template-Data", json.dumps(data))])
    start = len(m.log())
    assert mta.send(msg, mail_from=SENDER, rcpts=[RCPT])[0] == 250
    mid = m.wait_log(r"accept:.* template=news.* id=([a-z2-7]{26})", 20, start=start).group(1)
    got = mta.sink.wait_count(1, 30)[0]
    assert h.dkim_verify(got, keys.txt), got.decode()
    parsed = email.message_from_bytes(got, policy=email.policy.default)
    body = parsed.get_body(("plain",)).get_content()
    in_body = re.search(r"Unsubscribe: (\S+)", body).group(1)
    in_header = re.match(r"<([^>]+)>", list_unsubscribe(got)).group(1)
    assert in_body == in_header and in_body.startswith(public + "/u/"), (body, in_header)
    assert "evil.example" not in body

    path = in_body[len(public):]
    code, _, _ = request(port, "POST", path, body="List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 200
    assert status(m, mid)["UserUnsubscribed"] is True
    listed = ctl(m, "suppression", "list")["Suppressed"]
    assert [(e["Address"], e["Reason"]) for e in listed] == [(RCPT, "unsubscribe")], listed


def test_unsubscribe_url_is_empty_for_several_recipients(mta, keys):
    m, _ = start_milter(mta, keys)
    files = mta.dir / "tpl"
    files.mkdir(exist_ok=True)
    (files / "news.txt").write_text("Unsubscribe: [{{unsubscribe_url}}]\n")
    h.sesctl("-c", str(m.config_path), "template", "put", "news", "--subject", "News",
             "--text", str(files / "news.txt"))
    rcpts = [RCPT, "second@remote.test"]
    msg = h.make_message(f"News <{SENDER}>", rcpts, "(set by the template)", "x\n",
                         extra_headers=[("X-SES-Template", "news")])
    assert mta.send(msg, mail_from=SENDER, rcpts=rcpts)[0] == 250
    got = mta.sink.wait_count(1, 30)[0]
    parsed = email.message_from_bytes(got, policy=email.policy.default)
    assert "Unsubscribe: []" in parsed.get_body(("plain",)).get_content()
    assert parsed["List-Unsubscribe"] is None
