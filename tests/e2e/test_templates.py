"""Template expansion through a real Postfix: a message naming a template in
X-SES-Template (data in X-SES-Template-Data) leaves the MTA rendered, with
its attachments intact, without the X-SES headers, and DKIM-signed; every
rendering failure is refused with 554 5.6.0 and its reason.  Templates are
managed with `sesctl template` on the daemon's own store."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
import os
import random
import shutil
import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

import harness as h

SENDER = "shop@example.com"
RCPT = "ana@remote.test"

WELCOME_HTML = """<html><body>
<p>Olá {{name}}, your order <b>{{order.id}}</b> has shipped.</p>
<ul>{{#order.items}}<li>{{sku}} &times; {{qty}}</li>{{/order.items}}</ul>
{{#coupon}}<p>Your code: {{code}}</p>{{/coupon}}{{^coupon}}<p>No coupon this time.</p>{{/coupon}}
<p>{{{signature}}}</p>
</body></html>
"""
WELCOME_TEXT = """Olá {{name}},
your order {{order.id}} has shipped.
{{#order.items}}- {{sku}} x {{qty}}
{{/order.items}}
"""
WELCOME_SUBJECT = "Olá {{name}}, order {{order.id}} shipped"

DATA = {"name": "Ana <Admin> & Co",
        "order": {"id": "A-1042", "items": [{"sku": "B-7", "qty": 2}, {"sku": "C-9", "qty": 1}]},
        "signature": "<i>The Shop</i>"}


class Templates:
    """One MTA + sesmilter with a store, and `sesctl template` on that store."""

    def __init__(self, mta, keys, sesctl_bin: Path, max_message_size="10MB", start=True):
        self.mta = mta
        self.keys = keys
        self.sesctl_bin = sesctl_bin
        self.store = mta.dir / "store"
        self.files = mta.dir / "tpl"
        self.files.mkdir(exist_ok=True)
        extra = f'[store]\npath = "{self.store}"\n'
        self.config_text = mta.config({"example.com": [keys.rsa]}, extra=extra,
                                      max_message_size=max_message_size)
        self.milter = mta.milter(self.config_text, start=start)
        self.cfg = self.milter.config_path

    def ctl(self, *args, check=True) -> subprocess.CompletedProcess:
        return h.sesctl("-c", str(self.cfg), *args, binary=self.sesctl_bin, check=check)

    def put(self, name, subject, html=None, text=None, *extra, check=True):
        args = ["template", "put", name, "--subject", subject]
        if html is not None:
            (self.files / f"{name}.html").write_text(html)
            args += ["--html", str(self.files / f"{name}.html")]
        if text is not None:
            (self.files / f"{name}.txt").write_text(text)
            args += ["--text", str(self.files / f"{name}.txt")]
        return self.ctl(*args, *extra, check=check)

    def welcome(self):
        self.put("welcome", WELCOME_SUBJECT, WELCOME_HTML, WELCOME_TEXT)

    def deliver(self, msg: bytes) -> bytes:
        code, _ = self.mta.send(msg, mail_from=SENDER, rcpts=[RCPT])
        assert code == 250
        got = self.mta.sink.wait_count(1, 20)
        assert len(got) == 1
        return got[0]


@pytest.fixture
def tpl(mta, keys, sesctl_bin) -> Templates:
    return Templates(mta, keys, sesctl_bin)


def templated(name="welcome", data=DATA, extra=None, body="placeholder\n") -> bytes:
    hdrs = [("X-SES-Template", name)]
    if data is not None:
        hdrs.append(("X-SES-Template-Data", data if isinstance(data, str) else json.dumps(data)))
    return h.make_message(f"Example Shop <{SENDER}>", RCPT, "(set by the template)", body,
                          extra_headers=hdrs + list(extra or []))


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def content(part) -> str:
    """A text part's decoded content with LF line ends (the wire has CRLF)."""
    return part.get_content().replace("\r\n", "\n")


def assert_clean_and_signed(raw: bytes, keys):
    names = [n.lower() for n, _ in h.parse_headers(raw)]
    assert "x-ses-template" not in names and "x-ses-template-data" not in names, raw[:2000]
    sigs = h.dkim_signatures(raw)
    assert len(sigs) == 1, raw[:2000]
    signed = [n.strip().lower() for n in sigs[0]["h"].split(":")]
    for need in ("subject", "content-type", "mime-version"):
        assert need in signed, sigs[0]["h"]
    assert h.dkim_verify(raw, keys.txt), raw.decode(errors="replace")[:3000]
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in the delivered message"


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------------------
# rendering through Postfix

def test_rendered_message_has_subject_parts_and_a_valid_signature(tpl, keys):
    tpl.welcome()
    raw = tpl.deliver(templated())
    msg = parse(raw)
    assert msg["Subject"] == "Olá Ana <Admin> & Co, order A-1042 shipped"
    assert "=?" in h.header_values(raw, "Subject")[0]  # RFC 2047 on the wire
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for p in parts:
        assert p["Content-Transfer-Encoding"] == "quoted-printable"
        assert p.get_content_charset() == "utf-8"
    text = content(parts[0])
    html = content(parts[1])
    assert text == ("Olá Ana <Admin> & Co,\nyour order A-1042 has shipped.\n"
                    "- B-7 x 2\n- C-9 x 1\n")
    assert "<p>Olá Ana &lt;Admin&gt; &amp; Co, your order <b>A-1042</b> has shipped.</p>" in html
    assert "<li>B-7 &times; 2</li><li>C-9 &times; 1</li>" in html
    assert "<p>No coupon this time.</p>" in html
    assert "<p><i>The Shop</i></p>" in html  # {{{signature}}} is not escaped
    assert "placeholder" not in raw.decode()
    assert msg["From"] == f"Example Shop <{SENDER}>"
    assert msg["To"] == RCPT
    assert_clean_and_signed(raw, keys)


def test_attachments_are_identical_by_sha256(tpl, keys):
    tpl.welcome()
    rnd = random.Random(5)
    pdf = b"%PDF-1.4\n" + bytes(rnd.getrandbits(8) for _ in range(60000))
    csv = "sku;name\nB-7;Café crème\n".encode("utf-8")
    m = EmailMessage()
    m["From"] = f"Example Shop <{SENDER}>"
    m["To"] = RCPT
    m["Subject"] = "placeholder"
    m["Message-ID"] = "<attach-1@example.com>"
    m["X-SES-Template"] = "welcome"
    m["X-SES-Template-Data"] = json.dumps(DATA)
    m.set_content("placeholder body\n")
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    m.add_attachment(csv, maintype="text", subtype="csv", filename="items.csv")
    raw = tpl.deliver(m.as_bytes(policy=email.policy.SMTP))

    got = parse(raw)
    assert got.get_content_type() == "multipart/mixed"
    first = next(got.iter_parts())
    assert first.get_content_type() == "multipart/alternative"
    assert "your order A-1042 has shipped" in content(got.get_body(("plain",)))
    assert "&lt;Admin&gt;" in content(got.get_body(("html",)))
    atts = {a.get_filename(): a.get_payload(decode=True) for a in got.iter_attachments()}
    assert set(atts) == {"invoice.pdf", "items.csv"}
    assert sha256(atts["invoice.pdf"]) == sha256(pdf)
    assert sha256(atts["items.csv"]) == sha256(csv)
    assert "placeholder body" not in raw.decode(errors="replace")
    assert_clean_and_signed(raw, keys)


def test_base64_data_and_a_single_part_template(tpl, keys):
    tpl.put("note", "Note for {{name}}", None, "Hello {{name}}: {{text}}\n")
    data = {"name": "Zoë", "text": "naïve café — ✓"}
    b64 = "base64:" + base64.b64encode(json.dumps(data, ensure_ascii=False).encode()).decode()
    raw = tpl.deliver(templated("note", b64))
    msg = parse(raw)
    assert msg["Subject"] == "Note for Zoë"
    assert msg.get_content_type() == "text/plain"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(msg) == "Hello Zoë: naïve café — ✓\n"
    assert_clean_and_signed(raw, keys)


def test_default_data_and_lenient_templates(tpl, keys):
    tpl.put("lenient", "Hi {{name}}", None, "[{{missing}}] {{greeting}} {{name}}\n",
            "--lenient", "--default-data", '{"greeting": "Hello", "name": "friend"}')
    raw = tpl.deliver(templated("lenient", None))
    msg = parse(raw)
    assert msg["Subject"] == "Hi friend"
    assert content(msg) == "[] Hello friend\n"
    assert_clean_and_signed(raw, keys)


def test_python_smtplib_example_from_the_docs(tpl, keys):
    tpl.put("order_shipped", "Olá {{name}}, your order {{order.id}} has shipped",
            "<p>{{name}}: {{#order.items}}{{sku}}x{{qty}} {{/order.items}}</p>\n",
            "{{name}}: {{order.id}}\n")
    pdf = os.urandom(20000)
    # -- as in docs/templates.md, with the test's port and file --
    data = {"name": "João", "order": {"id": "A-1042", "items": [{"sku": "B-7", "qty": 2}]}}
    msg = EmailMessage()
    msg["From"] = "Example Shop <shop@example.com>"
    msg["To"] = RCPT
    msg["Subject"] = "(set by the template)"
    msg["X-SES-Template"] = "order_shipped"
    msg["X-SES-Template-Data"] = json.dumps(data)
    msg.set_content("placeholder: replaced by the template")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice-A-1042.pdf")
    with smtplib.SMTP("127.0.0.1", tpl.mta.port) as s:
        s.send_message(msg)
    # --
    raw = tpl.mta.sink.wait_count(1, 20)[0]
    got = parse(raw)
    assert got["Subject"] == "Olá João, your order A-1042 has shipped"
    assert content(got.get_body(("plain",))) == "João: A-1042\n"
    assert content(got.get_body(("html",))) == "<p>João: B-7x2 </p>\n"
    (att,) = list(got.iter_attachments())
    assert sha256(att.get_payload(decode=True)) == sha256(pdf)
    assert_clean_and_signed(raw, keys)


def test_long_data_folded_by_the_email_package(tpl, keys):
    """json.dumps' default ASCII output folds at spaces between tokens: long
    data arrives intact with every header line under 998 bytes."""
    tpl.put("list", "{{n}} items", None, "{{#items}}{{name}};{{/items}}\n")
    items = [{"name": f"item number {i} — ünïcode"} for i in range(60)]
    msg = EmailMessage()
    msg["From"] = f"<{SENDER}>"
    msg["To"] = RCPT
    msg["Subject"] = "x"
    msg["X-SES-Template"] = "list"
    msg["X-SES-Template-Data"] = json.dumps({"n": 60, "items": items})
    msg.set_content("x")
    wire = msg.as_bytes(policy=email.policy.SMTP)
    assert max(len(line) for line in wire.split(b"\r\n")) <= 998
    assert wire.count(b"\r\n ") > 3  # folded
    raw = tpl.deliver(wire)
    got = parse(raw)
    assert got["Subject"] == "60 items"
    assert content(got) == "".join(f"{i['name']};" for i in items) + "\n"
    assert_clean_and_signed(raw, keys)


def test_rfc2047_encoded_data_from_the_email_package(tpl, keys):
    tpl.put("hello", "Olá {{name}}", None, "{{greeting}}, {{name}}!\n")
    msg = EmailMessage()
    msg["From"] = f"<{SENDER}>"
    msg["To"] = RCPT
    msg["Subject"] = "x"
    msg["X-SES-Template"] = "hello"
    msg["X-SES-Template-Data"] = json.dumps({"name": "Zoë", "greeting": "Grüß dich"}, ensure_ascii=False)
    msg.set_content("x")
    wire = msg.as_bytes(policy=email.policy.SMTP)
    assert b"=?utf-8?" in wire
    raw = tpl.deliver(wire)
    got = parse(raw)
    assert got["Subject"] == "Olá Zoë"
    assert content(got) == "Grüß dich, Zoë!\n"
    assert_clean_and_signed(raw, keys)


def test_swaks_example_from_the_docs(tpl, keys):
    swaks = shutil.which("swaks")
    assert swaks, "swaks is missing: `make deps` installs it"
    tpl.put("order_shipped", "Olá {{name}}, your order {{order.id}} has shipped",
            "<p>{{name}}</p>\n", "{{name}} {{#order.items}}{{sku}}/{{qty}}{{/order.items}}\n")
    pdf = tpl.files / "invoice-A-1042.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(5000))
    cp = subprocess.run(
        [swaks, "--server", f"127.0.0.1:{tpl.mta.port}",
         "--from", "shop@example.com", "--to", RCPT,
         "--h-From", "Example Shop <shop@example.com>",
         "--add-header", "X-SES-Template: order_shipped",
         "--add-header", 'X-SES-Template-Data: {"name": "Ana", "order": {"id": "A-1042", '
                         '"items": [{"sku": "B-7", "qty": 2}]}}',
         "--attach-type", "application/pdf", "--attach-name", "invoice-A-1042.pdf",
         "--attach", f"@{pdf}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout
    raw = tpl.mta.sink.wait_count(1, 20)[0]
    got = parse(raw)
    assert got["Subject"] == "Olá Ana, your order A-1042 has shipped"
    assert content(got.get_body(("plain",))) == "Ana B-7/2\n"
    (att,) = list(got.iter_attachments())
    assert att.get_filename() == "invoice-A-1042.pdf"
    assert sha256(att.get_payload(decode=True)) == sha256(pdf.read_bytes())
    assert "This is a test mailing" not in raw.decode(errors="replace")
    assert_clean_and_signed(raw, keys)


# ---------------------------------------------------------------------------
# failures: 554 5.6.0, nothing delivered

ERRORS = [
    ("unknown", templated("nosuch", {}), "Template nosuch: no such template"),
    ("bad-json", templated("welcome", '{"name": "Ana", '), "Template welcome: X-SES-Template-Data is not valid JSON"),
    ("array", templated("welcome", "[1, 2]"), "Template welcome: X-SES-Template-Data is not a JSON object"),
    ("bad-base64", templated("welcome", "base64:@@@"), "Template welcome: X-SES-Template-Data: invalid base64"),
    ("missing-variable", templated("welcome", {"name": "Ana"}), "Template welcome: missing variable 'order.id'"),
    ("crlf-in-subject", templated("welcome", dict(DATA, name="x\r\nBcc: victim@example.org")),
     "Template welcome: value of 'name' in subject contains CR, LF or NUL"),
    ("data-without-template",
     h.make_message(f"<{SENDER}>", RCPT, "x", "x\n", extra_headers=[("X-SES-Template-Data", "{}")]),
     "X-SES-Template-Data without X-SES-Template"),
    ("two-templates", templated("welcome", DATA, extra=[("X-SES-Template", "other")]),
     "more than one X-SES-Template header"),
]


@pytest.mark.parametrize("case,msg,text", ERRORS, ids=[e[0] for e in ERRORS])
def test_rendering_failures_are_refused_with_554_5_6_0(tpl, case, msg, text):
    tpl.welcome()
    with pytest.raises(h.SMTPReplyError) as ei:
        tpl.mta.send(msg, mail_from=SENDER, rcpts=[RCPT])
    e = ei.value
    assert e.stage == "data"
    assert e.smtp_code == 554, str(e)
    assert e.text.startswith("5.6.0 "), str(e)
    assert text in e.text, str(e)
    tpl.mta.postfix.wait_queue_empty(10)
    assert tpl.mta.sink.count() == 0


def test_rendered_message_over_the_size_limit_is_refused(mta, keys, sesctl_bin):
    tpl = Templates(mta, keys, sesctl_bin, max_message_size="100KB")
    # 30^3 = 27000 repetitions of a short paragraph from a tiny message.
    tpl.put("big", "Big", "{{#r}}{{#r}}{{#r}}<p>{{word}}</p>\n{{/r}}{{/r}}{{/r}}", None)
    data = {"r": list(range(30)), "word": "lorem ipsum"}
    with pytest.raises(h.SMTPReplyError) as ei:
        mta.send(templated("big", data), mail_from=SENDER, rcpts=[RCPT])
    assert ei.value.smtp_code == 554, str(ei.value)
    assert ei.value.text.startswith("5.6.0 Template big: "), str(ei.value)
    assert "over the limit of 100000" in ei.value.text, str(ei.value)
    # The same template with less data fits and is delivered.
    raw = tpl.deliver(templated("big", {"r": [1, 2, 3], "word": "ok"}))
    assert content(parse(raw)).count("<p>ok</p>") == 27


def test_failures_are_recorded_for_sesctl(tpl):
    tpl.welcome()
    with pytest.raises(h.SMTPReplyError):
        tpl.mta.send(templated("nosuch", {}), mail_from=SENDER, rcpts=[RCPT])
    out = json.loads(tpl.ctl("--json", "template", "failures").stdout)
    assert out["failures"], out
    f = out["failures"][0]
    assert f["type"] == "RenderingFailure"
    assert f["template"] == "nosuch"
    assert f["reason"] == "no such template"
    assert f["rcpts"] == [RCPT]


def test_a_template_change_is_live_without_reload(tpl, keys):
    tpl.put("live", "v1 {{x}}", None, "one {{x}}\n")
    raw = tpl.deliver(templated("live", {"x": "a"}))
    assert parse(raw)["Subject"] == "v1 a"
    tpl.mta.sink.clear()
    tpl.put("live", "v2 {{x}}", None, "two {{x}}\n")
    raw = tpl.deliver(templated("live", {"x": "b"}))
    assert parse(raw)["Subject"] == "v2 b"
    assert content(parse(raw)) == "two b\n"


# ---------------------------------------------------------------------------
# sesctl template (no mail needed)

@pytest.fixture
def ctl_only(mta, keys, sesctl_bin) -> Templates:
    return Templates(mta, keys, sesctl_bin, start=False)


def test_put_refuses_a_broken_template_with_its_position(ctl_only):
    cp = ctl_only.put("broken", "Hi {{name}}", "<p>\n  {{#items}}<li>{{.}}</li>\n</p>\n", None,
                      check=False)
    assert cp.returncode == 1
    assert "template broken: html: line 2, column 3: Unclosed section \"items\"" in cp.stderr
    cp = subprocess.run([str(ctl_only.sesctl_bin), "-c", str(ctl_only.cfg), "--json", "template", "put",
                         "footer", "--subject", "x", "--html", "-"],
                        input="<p>{{> footer}}</p>", capture_output=True, text=True)
    assert cp.returncode == 1
    assert "partial {{>footer}} is not supported" in json.loads(cp.stdout)["error"]
    out = json.loads(ctl_only.ctl("--json", "template", "list").stdout)
    assert out["templates"] == []


def test_render_prints_the_full_mime_message(ctl_only):
    ctl_only.welcome()
    cp = ctl_only.ctl("template", "render", "welcome", "--data", json.dumps(DATA))
    msg = parse(cp.stdout.encode())
    assert msg["Subject"] == "Olá Ana <Admin> & Co, order A-1042 shipped"
    assert msg.get_content_type() == "multipart/alternative"
    assert "A-1042" in content(msg.get_body(("plain",)))
    assert "X-SES-Template" not in cp.stdout
    cp = ctl_only.ctl("template", "render", "welcome", "--data", "{}", check=False)
    assert cp.returncode == 1
    assert "554 5.6.0 Template welcome: missing variables 'name', 'order.id' in subject" in cp.stderr
    js = json.loads(ctl_only.ctl("--json", "template", "render", "welcome", "--data",
                                 json.dumps(DATA)).stdout)
    assert parse(js["message"].encode())["Subject"].startswith("Olá Ana")


def test_export_then_import_round_trips(ctl_only, tmp_path):
    ctl_only.welcome()
    ctl_only.put("plain", "P {{x}}", None, "x={{x}}\n", "--lenient")
    d = tmp_path / "templates"
    ctl_only.ctl("template", "export", str(d))
    assert sorted(p.name for p in d.iterdir()) == [
        "plain.json", "plain.txt", "welcome.html", "welcome.json", "welcome.txt"]
    assert (d / "welcome.html").read_text() == WELCOME_HTML
    before = json.loads(ctl_only.ctl("--json", "template", "get", "welcome").stdout)
    for name in ("welcome", "plain"):
        ctl_only.ctl("template", "delete", name)
    assert json.loads(ctl_only.ctl("--json", "template", "list").stdout)["templates"] == []
    out = json.loads(ctl_only.ctl("--json", "template", "import", str(d)).stdout)
    assert sorted(out["added"]) == ["plain", "welcome"]
    after = json.loads(ctl_only.ctl("--json", "template", "get", "welcome").stdout)
    for k in ("name", "subject", "html", "text", "strict", "default_data"):
        assert after[k] == before[k], k
    assert json.loads(ctl_only.ctl("--json", "template", "get", "plain").stdout)["strict"] is False
    # A broken file stops the whole import.
    (d / "welcome.txt").write_text("{{#open}}")
    cp = ctl_only.ctl("template", "import", str(d), check=False)
    assert cp.returncode == 1
    assert "welcome.json: template welcome: text: line 1, column 1: Unclosed section" in cp.stderr
    assert "nothing imported" in cp.stderr
