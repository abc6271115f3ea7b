"""Templates over the HTTP API (/v1/templates) and in the console: create,
list, fetch, replace keeping the id, delete; a template that does not parse
is 400 with the part, line and column; the preview renders exactly what a
message through Postfix gets with the same data (Subject, text and HTML
parts compared with the delivered message), and a missing variable of a
strict template is 400 naming it.  The console's Templates card is driven
in headless chromium over the DevTools protocol (cdp.py); its screenshot is
kept in build/e2e-artifacts/console-templates.png."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import time
import urllib.error
import urllib.request

import pytest

import harness as h

SENDER = "shop@example.com"
RCPT = "ana@remote.test"
HTML = "<p>Hello <b>{{name}}</b>, order {{order.id}}: {{#items}}<i>{{.}}</i> {{/items}}</p>\n"
TEXT = "Hello {{name}},\norder {{order.id}} ({{#items}}{{.}} {{/items}}).\n"
SUBJECT = "Order {{order.id}} for {{name}}"
DATA = {"name": "Ana & <Bö>", "order": {"id": "A-7"}, "items": ["pen", "ink"]}


class Api:
    """sesmilter with a store and the HTTP API, and an operator key."""

    def __init__(self, mta, keys, sesctl_bin):
        self.mta = mta
        self.sesctl_bin = sesctl_bin
        self.port = h.free_port()
        extra = f"""
[store]
path = "{mta.dir / 'store'}"

[http]
listen = ["{h.LOOPBACK}:{self.port}"]
"""
        self.milter = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra), start=False)
        self.key = self.ctl("apikey", "create", "ops", "--json")["key"]
        self.milter.start()
        h.wait_port(self.port)

    def ctl(self, *args, check=True):
        cp = h.sesctl("-c", str(self.milter.config_path), *args, binary=self.sesctl_bin, check=check)
        try:
            return json.loads(cp.stdout)
        except ValueError:
            return cp.stdout

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{h.LOOPBACK}:{self.port}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_create_list_get_replace_delete_and_bad_template(mta, keys, sesctl_bin):
    a = Api(mta, keys, sesctl_bin)
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "order", "Subject": SUBJECT, "Html": HTML,
                                               "Text": TEXT, "DefaultData": {"order": {"id": "none"}}})
    assert code == 200, r
    assert r["Result"] == "added" and r["TemplateName"] == "order"
    tid = r["TemplateID"]
    assert isinstance(tid, int) and tid > 0

    code, lst = a.call("GET", "/v1/templates")
    assert code == 200
    assert [(t["TemplateID"], t["TemplateName"], t["HasHtml"], t["HasText"]) for t in lst["Templates"]] == \
        [(tid, "order", True, True)]
    for ref in (str(tid), "order"):
        code, d = a.call("GET", f"/v1/templates/{ref}")
        assert code == 200
        assert (d["Html"], d["Text"], d["Subject"], d["DefaultData"], d["Strict"]) == \
            (HTML, TEXT, SUBJECT, {"order": {"id": "none"}}, True)
    # sesctl sees the same store (and the same id).
    assert [t["id"] for t in a.ctl("--json", "template", "list")["templates"]] == [tid]
    assert a.ctl("template", "show", str(tid)) == d  # one builder for both

    # Replace: same id; an identical request changes nothing.
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "order", "Subject": "New " + SUBJECT, "Text": TEXT})
    assert (code, r["Result"], r["TemplateID"]) == (200, "replaced", tid)
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "order", "Subject": "New " + SUBJECT, "Text": TEXT})
    assert (code, r["Result"]) == (200, "unchanged")
    assert a.call("GET", "/v1/templates/order")[1]["Html"] is None

    # A template that does not parse: 400 with the part, line and column; nothing stored.
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "broken", "Subject": "x",
                                               "Html": "<p>\n  {{#items}}<li>{{.}}</li>\n</p>\n"})
    assert code == 400
    assert r["error"] == 'template broken: html: line 2, column 3: Unclosed section "items"'
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "broken", "Subject": "Hi {{name", "Text": "t"})
    assert code == 400 and r["error"].startswith("template broken: subject: line 1, column"), r
    assert a.call("GET", "/v1/templates/broken")[0] == 404
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "x", "Subject": "s", "Text": "t", "Body": "?"})
    assert (code, r["error"]) == (400, "Body: unknown field")
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "x", "Text": "t"})
    assert (code, r["error"]) == (400, "Subject: required (a string)")

    code, r = a.call("DELETE", f"/v1/templates/{tid}")
    assert (code, r["Deleted"], r["TemplateName"]) == (200, True, "order")
    assert a.call("GET", "/v1/templates")[1]["Templates"] == []
    assert a.call("DELETE", f"/v1/templates/{tid}")[0] == 404
    # A new template never gets the deleted id again.
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "order", "Subject": SUBJECT, "Text": TEXT})
    assert code == 200 and r["TemplateID"] > tid


def test_preview_equals_the_message_rendered_through_postfix(mta, keys, sesctl_bin):
    a = Api(mta, keys, sesctl_bin)
    code, r = a.call("POST", "/v1/templates", {"TemplateName": "order", "Subject": SUBJECT, "Html": HTML,
                                               "Text": TEXT})
    assert code == 200, r
    tid = r["TemplateID"]
    code, p = a.call("POST", f"/v1/templates/{tid}/preview", {"TemplateData": json.dumps(DATA)})
    assert code == 200, p
    assert p["Subject"] == "Order A-7 for Ana & <Bö>"
    assert p["Html"] == "<p>Hello <b>Ana &amp; &lt;Bö&gt;</b>, order A-7: <i>pen</i> <i>ink</i> </p>\n"
    assert p["Text"] == "Hello Ana & <Bö>,\norder A-7 (pen ink ).\n"
    # TemplateData as an object (the same), by name, and sesctl's preview: one builder.
    assert a.call("POST", "/v1/templates/order/preview", {"TemplateData": DATA}) == (200, p)
    assert a.ctl("--json", "template", "preview", "order", "--data", json.dumps(DATA)) == p

    msg = h.make_message(f"Shop <{SENDER}>", RCPT, "(set by the template)", "placeholder\n",
                         extra_headers=[("X-SES-Template", "order"), ("X-SES-Template-Data", json.dumps(DATA))])
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=[RCPT])
    assert code == 250
    got = mta.sink.wait_count(1, 20)
    m = parse(got[0])
    assert m["Subject"] == p["Subject"]
    assert m.get_body(("plain",)).get_content().replace("\r\n", "\n") == p["Text"]
    assert m.get_body(("html",)).get_content().replace("\r\n", "\n") == p["Html"]
    assert h.dkim_verify(got[0], keys.txt)

    # A strict template missing a variable: 400 naming it (the milter's 554 reason).
    code, r = a.call("POST", "/v1/templates/order/preview", {"TemplateData": {"order": {"id": "1"}}})
    assert code == 400 and "'name'" in r["error"], r
    code, r = a.call("POST", "/v1/templates/order/preview", {"TemplateData": "{not json"})
    assert (code, r["error"]) == (400, "TemplateData: not valid JSON")
    assert a.call("POST", "/v1/templates/nosuch/preview", {})[0] == 404


def test_console_create_and_preview_a_template(mta, keys, sesctl_bin, tmp_path):
    """The Templates card in headless chromium: save a template with the
    form, preview it with sample data, read the rendered values in the DOM
    (the HTML in a sandboxed srcdoc iframe), a bad template's error shown."""
    import cdp
    if not os.path.exists(cdp.CHROMIUM):
        pytest.skip("/usr/bin/chromium is not installed (Debian: chromium)")
    a = Api(mta, keys, sesctl_bin)
    page = cdp.Page(f"http://{h.LOOPBACK}:{a.port}/#key={a.key}", tmp_path / "chromium", size=(1280, 1400))
    artifacts = h.BUILD / "e2e-artifacts"
    try:
        page.wait_js("document.body.dataset.loaded === 'true'", what="dashboard loaded")

        def fill(**values):
            page.js("".join(f"document.getElementById({k!r}).value = {json.dumps(v)};" for k, v in values.items())
                    + "true")

        # A broken one first: the parser's message is shown, nothing saved.
        fill(**{"template-name": "order", "template-subject": SUBJECT, "template-html": "<p>{{#x}}</p>",
                "template-text": TEXT})
        page.js("document.getElementById('template-form').requestSubmit(); true")
        page.wait_js("document.getElementById('template-result').className === 'error'", what="error shown")
        assert "html: line 1, column 4" in page.js("document.getElementById('template-result').textContent")
        assert a.call("GET", "/v1/templates")[1]["Templates"] == []

        fill(**{"template-html": HTML})
        page.js("document.getElementById('template-form').requestSubmit(); true")
        assert page.wait_js("document.getElementById('template-result').dataset.saved", what="saved") == "order"
        page.wait_js("!!document.querySelector('#templates [data-template=\"order\"]')", what="listed")
        assert a.call("GET", "/v1/templates/order")[1]["Html"] == HTML

        # The page's self-only CSP must allow what the preview uses.
        page.js("window.cspViolations = []; document.addEventListener('securitypolicyviolation',"
                " (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); true")
        fill(**{"preview-data": json.dumps(DATA, indent=1)})
        page.js("document.getElementById('preview-template').value = 'order';"
                "document.getElementById('preview-form').requestSubmit(); true")
        page.wait_js("document.getElementById('preview-out').dataset.rendered === 'order'", what="preview")
        assert page.js("document.getElementById('preview-subject').textContent") == "Order A-7 for Ana & <Bö>"
        assert page.js("document.getElementById('preview-text').textContent") == \
            "Hello Ana & <Bö>,\norder A-7 (pen ink ).\n"
        frame = page.js("(() => { const f = document.getElementById('preview-html');"
                        " return [f.getAttribute('sandbox'), f.srcdoc]; })()")
        assert frame == ["", "<p>Hello <b>Ana &amp; &lt;Bö&gt;</b>, order A-7: <i>pen</i> <i>ink</i> </p>\n"]
        assert page.js("window.cspViolations") == []
        # The sandboxed frame is its own opaque origin: the page cannot reach into it.
        assert page.js("document.getElementById('preview-html').contentDocument === null")

        # The sandboxed frame renders in its own process: chromium composites
        # it into a screenshot of the viewport only (not with
        # captureBeyondViewport), so the card is scrolled into view.
        rect = page.js("(() => { const c = document.getElementById('templates-card'); c.scrollIntoView();"
                       " const r = c.getBoundingClientRect();"
                       " return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; })()")
        time.sleep(0.5)  # the frame's first paint
        shot = page.call("Page.captureScreenshot", format="png",
                         clip={"x": rect[0], "y": rect[1], "width": rect[2], "height": rect[3], "scale": 1})
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "console-templates.png").write_bytes(base64.b64decode(shot["data"]))

        # A missing variable: the preview shows the API's error.
        fill(**{"preview-data": "{}"})
        page.js("document.getElementById('preview-form').requestSubmit(); true")
        page.wait_js("document.getElementById('preview-error').className === 'error'", what="preview error")
        assert "'name'" in page.js("document.getElementById('preview-error').textContent")
    finally:
        page.close()
