"""POST /v1/send through a real Postfix (issue #13, part 1): a SendEmail
with a template, per-recipient data and a PDF attachment is delivered at
smtp-sink rendered and signed (python3-dkim verifies), the attachment byte
for byte, and the MessageId the API returns is the delivered
X-SES-Message-ID and names the record behind GET /v1/messages/ID.  A forged
X-SES-Submission from an ordinary SMTP client names nothing; an API key
restricted to another identity gets 403; an oversize message 413; bad fields
400 naming the field; a deferral by the MTA 503 with Retry-After."""

import base64
import email
import email.policy
import json
import os
import urllib.error
import urllib.request

import harness as h
from test_http import fetch

SENDER = "news@example.com"


def post(port, path, key, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{h.LOOPBACK}:{port}{path}", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        raw = e.read().decode()
        try:
            return e.code, e.headers, json.loads(raw)
        except ValueError:
            return e.code, e.headers, {"raw": raw}


class SendWorld:
    def __init__(self, mta, keys, sesctl_bin, send_extra="", unsubscribe=False, smtp=None):
        self.mta = mta
        self.port = h.free_port()
        self.sesctl_bin = sesctl_bin
        self.files = mta.dir / "tpl"
        self.files.mkdir(exist_ok=True)
        extra = f"""
[store]
path = "{mta.dir / 'store'}"

[http]
listen = ["{h.LOOPBACK}:{self.port}"]
public_url = "http://{h.LOOPBACK}:{self.port}"

[tracking]
keys = ["1:e2e-send-tracking-secret-0123"]

[send]
smtp = "{smtp or f'{h.LOOPBACK}:{mta.port}'}"
timeout = "20s"
{send_extra}
"""
        cfg = mta.config({"example.com": [keys.rsa], "other.example": [keys.rsa], "unverified.example": [keys.rsa]},
                         extra=extra)
        cfg = cfg.replace('name = "unverified.example"', 'name = "unverified.example"\nrequire_verified = true')
        if unsubscribe:
            cfg = cfg.replace('name = "example.com"', 'name = "example.com"\nunsubscribe = true')
        self.milter = mta.milter(cfg, start=False)
        self.txt = keys.txt

    def ctl(self, *args, check=True):
        cp = h.sesctl("-c", str(self.milter.config_path), "--json", *args, binary=self.sesctl_bin, check=check)
        return json.loads(cp.stdout)

    def start(self):
        self.milter.start()
        h.wait_port(self.port)

    def send(self, key, body):
        return post(self.port, "/v1/send", key, body)


def world(mta, keys, sesctl_bin, send_extra="", unsubscribe=False, smtp=None):
    w = SendWorld(mta, keys, sesctl_bin, send_extra, unsubscribe, smtp)
    (w.files / "w.html").write_text("<p>Hello {{name}}, your code is <b>{{code}}</b>.</p>\n")
    (w.files / "w.txt").write_text("Hello {{name}}, your code is {{code}}.\n")
    w.ctl("template", "put", "welcome", "--subject", "Welcome {{name}}",
          "--html", str(w.files / "w.html"), "--text", str(w.files / "w.txt"))
    return w


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_send_template_attachment_signed_and_recorded(mta, keys, sesctl_bin):
    w = world(mta, keys, sesctl_bin)
    key = w.ctl("apikey", "create", "app")["key"]
    tid = [t for t in w.ctl("template", "list")["templates"] if t["name"] == "welcome"][0]["id"]
    assert isinstance(tid, int) and tid >= 1
    w.start()

    # 1.5 MB: over [http] max_body (64 KiB); a request with a valid key may
    # send up to max_api_body.
    pdf = b"%PDF-1.4\n" + os.urandom(1500000) + b"\n%%EOF\n"
    code, _, out = w.send(key, {
        "FromEmailAddress": f"Example News <{SENDER}>",
        "Destination": ["bob@remote.test"],
        "ReplyToAddresses": ["replies@example.com"],
        "Template": {"TemplateID": tid, "TemplateData": json.dumps({"name": "Bob", "code": "X-42"})},
        "Attachments": [{"FileName": "invoice.pdf", "Content": b64(pdf)}],
        "SmtpHeaders": {"X-Campaign": "spring"},
        "TriggerType": 1,
    })
    assert code == 200, out
    mid = out["MessageId"]
    assert out["MessageIds"] == [mid]

    got = mta.sink.wait_count(1, 30)
    raw = got[0]
    assert h.dkim_verify(raw, w.txt)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["X-SES-Message-ID"] == mid
    assert msg["X-SES-Submission"] is None and msg["X-SES-Template"] is None
    assert msg["Subject"] == "Welcome Bob"
    assert msg["Reply-To"] == "replies@example.com"
    assert msg["X-Campaign"] == "spring"
    assert msg.get_content_type() == "multipart/mixed"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "Hello Bob, your code is <b>X-42</b>." in html
    assert "Hello Bob, your code is X-42." in text
    atts = list(msg.iter_attachments())
    assert len(atts) == 1
    assert atts[0].get_filename() == "invoice.pdf"
    assert atts[0].get_content_type() == "application/pdf"
    assert atts[0].get_content() == pdf

    # The record behind the id the API returned.
    status, _, body = fetch(w.port, f"/v1/messages/{mid}", key)
    assert status == 200, body
    rec = json.loads(body)
    assert [(e["MessageId"], e["To"]) for e in rec["EmailStatusList"]] == [(mid, "bob@remote.test")]
    assert rec["EmailStatusList"][0]["Identity"] == "example.com"
    assert rec["EmailStatusList"][0]["Subject"] == "Welcome Bob"

    # Simple with two destinations: two messages, two ids, each To: one.
    mta.sink.clear()
    code, _, out = w.send(key, {
        "FromEmailAddress": SENDER,
        "Destination": ["one@remote.test", "two@remote.test"],
        "Subject": "Grüße",
        "Simple": {"Html": b64("<p>Hallo</p>".encode()), "Text": b64(b"Hallo")},
    })
    assert code == 200, out
    assert len(out["MessageIds"]) == 2 and out["MessageId"] == out["MessageIds"][0]
    got = mta.sink.wait_count(2, 30)
    by_to = {}
    for raw in got:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        assert h.dkim_verify(raw, w.txt)
        assert m["Subject"] == "Grüße"
        by_to[str(m["To"])] = m["X-SES-Message-ID"]
    assert by_to == {"one@remote.test": out["MessageIds"][0], "two@remote.test": out["MessageIds"][1]}

    # With Cc/Bcc: one message to everyone, Bcc only in the envelope.
    mta.sink.clear()
    code, _, out = w.send(key, {
        "FromEmailAddress": SENDER, "Destination": ["one@remote.test", "two@remote.test"],
        "Cc": ["copy@remote.test"], "Bcc": ["hidden@remote.test"], "Subject": "All",
        "Simple": {"Text": b64(b"Hi all")},
    })
    assert code == 200, out
    assert len(out["MessageIds"]) == 1
    mta.sink.wait_count(1, 30)
    d = mta.sink.deliveries()
    assert len(d) == 1
    assert sorted(r.split()[0].strip("<>") for r in d[0].rcpts) == \
        ["copy@remote.test", "hidden@remote.test", "one@remote.test", "two@remote.test"]
    m = email.message_from_bytes(d[0].message, policy=email.policy.default)
    assert [a.addr_spec for a in m["To"].addresses] == ["one@remote.test", "two@remote.test"]
    assert [a.addr_spec for a in m["Cc"].addresses] == ["copy@remote.test"]
    assert m["Bcc"] is None and b"hidden@" not in d[0].message
    assert m["X-SES-Message-ID"] == out["MessageId"]

    # A forged X-SES-Submission from an ordinary SMTP client names nothing.
    mta.sink.clear()
    forged_id = out["MessageIds"][0]
    msg = h.make_message(f"<{SENDER}>", ["eve@remote.test"], "forged", "Hi.\n")
    msg = f"X-SES-Submission: v1; id={forged_id}; mac={'0' * 64}\r\n".encode() + msg
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=["eve@remote.test"])
    assert code == 250
    raw = mta.sink.wait_count(1, 30)[0]
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m["X-SES-Submission"] is None
    assert m["X-SES-Message-ID"] and m["X-SES-Message-ID"] != forged_id
    w.milter.wait_log(r"submission=refused", 10)


def test_send_refusals(mta, keys, sesctl_bin):
    w = world(mta, keys, sesctl_bin, send_extra='max_message_size = "100KB"')
    key = w.ctl("apikey", "create", "app")["key"]
    only_other = w.ctl("apikey", "create", "partner", "--identity", "other.example")["key"]
    listed = {k["name"]: k["identities"] for k in w.ctl("apikey", "list")["keys"]}
    assert listed == {"app": None, "partner": ["other.example"]}
    # Postfix defers and refuses two addresses.  Set before anything is
    # submitted: a submitter's kept connection is served by an smtpd that
    # started before a reload, with the old settings.
    mta.postfix.postconf(smtpd_recipient_restrictions=(
        "check_recipient_access inline:{ { later@remote.test = 451 4.3.2 Try later }, "
        "{ nobody@remote.test = 550 5.1.1 No such user } }, "
        "permit_mynetworks, reject_unauth_destination"))
    mta.postfix.reload()
    w.start()
    # A large body without a valid key is refused by the body limit for
    # everyone (max_body, 64 KiB), before anything reads it.
    big = {"FromEmailAddress": SENDER, "Destination": ["bob@remote.test"], "Subject": "Hi",
           "Simple": {"Text": b64(b"x" * 100000)}}
    code, _, out = w.send("not-a-key", big)
    assert code == 413 and "too large" in out["error"], out
    simple = {"FromEmailAddress": SENDER, "Destination": ["bob@remote.test"], "Subject": "Hi",
              "Simple": {"Text": b64(b"Hi")}}

    # No key: 401; a key restricted to another identity: 403.
    assert w.send(None, simple)[0] == 401
    code, _, out = w.send(only_other, simple)
    assert code == 403 and "example.com" in out["error"], out
    assert w.send(only_other, dict(simple, FromEmailAddress="a@other.example"))[0] == 200

    # An identity that must be verified first and is not: 403.
    code, _, out = w.send(key, dict(simple, FromEmailAddress="a@unverified.example"))
    assert code == 403 and out["field"] == "FromEmailAddress" and "not verified" in out["error"], out

    # A strict template missing a variable: the milter's 554, passed on as 422.
    tmpl = {k: v for k, v in simple.items() if k not in ("Simple", "Subject")}
    code, _, out = w.send(key, dict(tmpl, Template={"TemplateName": "welcome", "TemplateData": {"name": "Bob"}}))
    assert code == 422 and out["SmtpReply"].startswith("554") and "code" in out["SmtpReply"], out

    # Bad fields: 400 naming the field.
    cases = [
        (dict(simple, Destination=["bob@remote.test", "nope"]), "Destination[1]"),
        (dict(simple, Destination=[f"r{i}@remote.test" for i in range(51)]), "Destination"),
        (dict(simple, Cc=[f"c{i}@remote.test" for i in range(21)]), "Cc"),
        (dict(simple, FromEmailAddress="x@unconfigured.example"), "FromEmailAddress"),
        (dict(simple, Simple={"Html": "***"}), "Simple.Html"),
        ({k: v for k, v in simple.items() if k != "Simple"} | {"Template": {"TemplateName": "nosuch"}},
         "Template.TemplateName"),
        ({k: v for k, v in simple.items() if k != "Simple"} | {"Template": {"TemplateID": 999}},
         "Template.TemplateID"),
        (dict(simple, Attachments=[{"FileName": "setup.exe", "Content": b64(b"MZ")}]), "Attachments[0].FileName"),
        (dict(simple, SmtpHeaders={"DKIM-Signature": "v=1"}), "SmtpHeaders.DKIM-Signature"),
        (dict(simple, Bogus=1), "Bogus"),
    ]
    for body, field in cases:
        code, _, out = w.send(key, body)
        assert code == 400 and out.get("field") == field, (field, code, out)
    # Each refusal is logged with the key and the cause.
    w.milter.wait_log(r'send: key app: 400 .*"field":"Destination\[1\]"', 10)
    code, _, out = w.send(key, b"{not json")
    assert code == 400 and "JSON" in out["error"]

    # Over [send] max_message_size after encoding: 413, nothing submitted.
    before = mta.sink.count()
    big = dict(simple, Attachments=[{"FileName": "big.pdf", "Content": b64(os.urandom(80000))}])
    code, _, out = w.send(key, big)
    assert code == 413 and "max_message_size" in out["error"], out
    assert mta.sink.count() == before

    # The MTA's deferral decides: 503 with Retry-After, its text passed on.
    code, headers, out = w.send(key, dict(simple, Destination=["later@remote.test"]))
    assert code == 503, out
    assert headers["Retry-After"]
    assert out["SmtpReply"].startswith("451") and "Try later" in out["SmtpReply"]
    # Its refusal: 422 with its reply, no Retry-After.  With two
    # destinations the first is submitted before the second is refused:
    # its id comes back with the error.
    code, headers, out = w.send(key, dict(simple, Destination=["first@remote.test", "nobody@remote.test"]))
    assert code == 422, out
    assert "Retry-After" not in headers
    assert out["SmtpReply"].startswith("550") and "No such user" in out["SmtpReply"]
    assert len(out["MessageIds"]) == 1
    # Other recipients still go (the connection kept by the submitter works on).
    code, _, out = w.send(key, dict(simple, Destination=["ok@remote.test"]))
    assert code == 200, out


def test_send_unsubscribe(mta, keys, sesctl_bin):
    """`Unsubscribe` adds the List-Unsubscribe fields to the messages of this
    request, although the identity does not add them to all its mail: the
    flag travels in the authenticated submission header.  Without the field
    the identity's setting (off) holds; with Cc/Bcc it is refused."""
    w = world(mta, keys, sesctl_bin, unsubscribe=False)
    key = w.ctl("apikey", "create", "app")["key"]
    w.start()
    body = {"FromEmailAddress": SENDER, "Destination": ["u1@remote.test", "u2@remote.test"], "Subject": "News",
            "Simple": {"Html": b64(b"<p>News</p>")}, "Unsubscribe": "en"}
    code, _, out = w.send(key, body)
    assert code == 200, out
    got = mta.sink.wait_count(2, 30)
    for raw in got:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        assert str(m["List-Unsubscribe"]).startswith(f"<http://{h.LOOPBACK}:{w.port}/u/")
        assert str(m["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert m["X-SES-Submission"] is None
        assert h.dkim_verify(raw, w.txt)
    # The one-click POST of the delivered link suppresses that recipient.
    m = email.message_from_bytes(got[0], policy=email.policy.default)
    url = str(m["List-Unsubscribe"]).split(">")[0].lstrip("<")
    req = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
    listed = [e["Address"] for e in w.ctl("suppression", "list")["Suppressed"]]
    assert str(m["To"]) in listed, listed
    # Without the field: the identity's own setting, no fields.
    code, _, out = w.send(key, dict({k: v for k, v in body.items() if k != "Unsubscribe"},
                                    Destination=["u3@remote.test"]))
    assert code == 200, out
    raw = mta.sink.wait_count(3, 30)[2]
    assert email.message_from_bytes(raw, policy=email.policy.default)["List-Unsubscribe"] is None
    code, _, out = w.send(key, dict(body, Cc=["c@remote.test"]))
    assert code == 400 and out["field"] == "Unsubscribe", out


def test_send_mta_silent(mta, keys, sesctl_bin):
    """No MTA at [send] smtp: 502 with Retry-After, nothing recorded."""
    w = world(mta, keys, sesctl_bin, smtp=f"{h.LOOPBACK}:{h.free_port()}")
    key = w.ctl("apikey", "create", "app")["key"]
    w.start()
    code, headers, out = w.send(key, {"FromEmailAddress": SENDER, "Destination": ["bob@remote.test"],
                                      "Subject": "Hi", "Simple": {"Text": b64(b"Hi")}})
    assert code == 502 and headers["Retry-After"], out
    assert "did not answer" in out["error"] and "MessageIds" not in out
