"""The dashboard (docs/dashboard.md) through a real Postfix: mail goes out
(one recipient to a 550 sink, a hard bounce), then Debian's headless
chromium renders `/` with an API key passed in the URL fragment; the numbers
in the rendered DOM are those of `sesctl stats --json` and `sesctl warmup
status --json`, the bounce is in the recent events, the webhook delivery
that gave up (a dead endpoint) is in the failed webhooks, no Content-Security-
Policy violation is reported, and a screenshot is kept in
build/e2e-artifacts/dashboard.png. Without a key, or with a revoked one, the
page shows its key form and no data; without Chart.js it shows the tables."""

import json
import os
import subprocess
import time
import urllib.request
from html.parser import HTMLParser

import pytest

import harness as h
from test_http import api, fetch

SENDER = "alice@example.com"
BOB = "bob@example.net"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = h.BUILD / "e2e-artifacts"


class Dom(HTMLParser):
    """Text of every element with an id or a data-field, and hidden ids."""

    def __init__(self):
        super().__init__()
        self.by_id, self.fields, self.hidden, self.body_attrs = {}, {}, set(), {}
        self.events, self.failed = [], []
        self._open = []   # (key kind, key, text parts)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body_attrs = a
        if tag == "tr" and "data-failed" in a:
            self.failed.append(a["data-failed"])
        if "id" in a and "hidden" in a:
            self.hidden.add(a["id"])
        key = None
        if "data-field" in a and "data-date" in a:
            key = ("field", ("day", a["data-date"], a["data-field"]))
        elif "data-field" in a and "data-identity" in a:
            key = ("field", ("identity", a["data-identity"], a["data-field"]))
        elif "id" in a:
            key = ("id", a["id"])
        if tag == "span" and "tag" in a.get("class", ""):
            self.events.append(a["class"].split()[-1])
        if tag in ("br", "meta", "link", "input", "img"):
            return
        self._open.append((key, []))

    def handle_endtag(self, tag):
        if tag in ("br", "meta", "link", "input", "img") or not self._open:
            return
        key, parts = self._open.pop()
        text = "".join(parts)
        if self._open:
            self._open[-1][1].append(text)
        if key and key[0] == "id":
            self.by_id[key[1]] = text.strip()
        elif key:
            self.fields[key[1]] = text.strip()

    def handle_data(self, data):
        if self._open:
            self._open[-1][1].append(data)


def chromium(url, tmp_path, *extra):
    cp = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-extensions", f"--user-data-dir={tmp_path / 'chromium'}",
                         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *extra, url],
                        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stderr[-3000:]
    return cp


def render(url, tmp_path):
    cp = chromium(url, tmp_path, "--dump-dom")
    d = Dom()
    d.feed(cp.stdout)
    return d, cp


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="/usr/bin/chromium is not installed (Debian: chromium)")
def test_dashboard_shows_the_funnel_warmup_and_events(mta, keys, sesctl_bin, tmp_path):
    reject = h.Sink(mta.dir / "sink-reject", h.free_port(), extra_args=["-f", "RCPT"]).start()
    try:
        run(mta, keys, sesctl_bin, tmp_path, reject)
    finally:
        reject.stop()


def run(mta, keys, sesctl_bin, tmp_path, reject):
    mta.postfix.postconf(transport_maps=f"inline:{{reject.example=smtp:[{h.LOOPBACK}]:{reject.port}}}")
    mta.postfix.reload()
    port, dead_port = h.free_port(), h.free_port()
    # A webhook whose endpoint never answers gives up after max_age on the
    # daemon's clock (a file it re-reads, as in test_webhooks.py).
    clock_file = mta.dir / "clock"
    clock_file.write_text(f"{int(time.time())}\n")
    extra = f"""
[webhooks]
max_age = "1m"
retry_base = "1s"
retry_max = "1s"
poll_interval = "1s"

[[webhook]]
name = "dead"
url = "http://{h.LOOPBACK}:{dead_port}/dead"
secrets = ["0123456789abcdef0123456789abcdef"]
events = ["bounce"]

[http]
listen = ["{h.LOOPBACK}:{port}"]

[warmup]
enabled = true
time_zone = "UTC"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
log_file = "{mta.postfix.maillog_path}"
log_poll_interval = "1s"
"""
    m = mta.milter(mta.config({"example.com": [keys.rsa], "example.net": [keys.rsa]}, extra=extra), start=False)

    def ctl(*args, check=True):
        cp = h.sesctl("-c", str(m.config_path), *args, "--json", binary=sesctl_bin, check=check)
        return json.loads(cp.stdout)

    key = ctl("apikey", "create", "dashboard")["key"]
    m.env = dict(os.environ, SESMILTER_CLOCK_FILE=str(clock_file))
    m.start()
    h.wait_port(port)

    ids = []
    # example.com bounces one of four (its level is held); example.net,
    # without a bounce, has the whole plan ahead in its forecast.
    for i, (sender, rcpts) in enumerate([(SENDER, ["one@remote.test", "two@remote.test"]),
                                         (SENDER, ["r@reject.example"]), (SENDER, ["three@remote.test"]),
                                         (BOB, ["four@remote.test"])]):
        msg = h.make_message(f"Someone <{sender}>", rcpts, f"dashboard {i}", "Hello.\n")
        start = len(m.log())
        code, _ = mta.send(msg, mail_from=sender, rcpts=rcpts)
        assert code == 250
        ids.append(m.wait_log(r" id=([a-z2-7]{26})\b", 20, start=start).group(1))

    def settled():
        t = ctl("stats")["Total"]
        return t["DeliveredCount"] == 4 and t["BounceCount"] == 1
    h.wait_for(settled, 40, interval=0.3, what="four delivered, one bounced")
    tmp = mta.dir / "clock.tmp"
    tmp.write_text(f"{int(time.time()) + 300}\n")
    os.replace(tmp, clock_file)
    h.wait_for(lambda: ctl("events", "failed")["Failed"], 30, interval=0.5, what="the dead webhook gave up")
    failed = ctl("events", "failed")["Failed"]
    assert [f["Type"] for f in failed] == ["bounce"]

    # The page and its assets are public (no data) and carry the CSP.
    with urllib.request.urlopen(f"http://{h.LOOPBACK}:{port}/", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert "<form id=\"login-form\"" in r.read().decode()
    with urllib.request.urlopen(f"http://{h.LOOPBACK}:{port}/static/chart.js", timeout=10) as r:
        assert r.status == 200 and len(r.read()) > 100000   # Debian's Chart.js, served

    # Without a key: the form, no data.
    d, _ = render(f"http://{h.LOOPBACK}:{port}/", tmp_path)
    assert "login" not in d.hidden and "data" in d.hidden
    assert not d.fields

    url = f"http://{h.LOOPBACK}:{port}/#key={key}"
    d, cp = render(url, tmp_path)
    assert d.body_attrs.get("data-loaded") == "true", cp.stdout[-3000:]
    assert "login" in d.hidden and "data" not in d.hidden
    assert "Content Security Policy" not in cp.stderr, cp.stderr[-3000:]
    assert "chart-missing" in d.hidden   # Chart.js loaded and drew

    today = ctl("stats")["From"]
    day0 = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 13 * 86400))
    stats = ctl("stats", "--from", day0, "--to", today)
    funnel = ["RequestCount", "DeliveredCount", "OpenedCount", "ClickCount", "BounceCount", "ComplaintCount",
              "UnsubscribeCount"]
    for f in funnel:
        assert d.by_id[f"total-{f}"] == str(stats["Total"][f]), f
        assert d.fields[("day", "total", f)] == str(stats["Total"][f]), f
        for day in stats["DailyVolumes"]:
            assert d.fields[("day", day["Date"], f)] == str(day[f]), (day["Date"], f)
    assert d.by_id["total-RequestCount"] == "5"
    assert d.by_id["total-DeliveredCount"] == "4"
    assert d.by_id["total-BounceCount"] == "1"

    warm = ctl("warmup", "status")["identities"]
    assert [w["identity"] for w in warm] == ["example.com", "example.net"]
    for w in warm:
        for f in ("level", "limit", "used", "remaining", "held_messages"):
            assert d.fields[("identity", w["identity"], f)] == str(w[f]), f
    assert d.fields[("identity", "example.com", "used")] == "4"   # counted per recipient

    # The forecast curve: the same in sesctl, the API and `sesctl warmup
    # forecast` to the top's volume; the page shows its top and every day.
    assert [w["forecast"] for w in api(port, "/v1/warmup", key)["identities"]] == [w["forecast"] for w in warm]
    tops = {}
    for w in warm:
        fc = w["forecast"]
        assert fc["reached"] and fc["plan"][0]["date"] == today and fc["plan"][0]["level"] == 1
        top = tops[w["identity"]] = fc["plan"][fc["days"]]
        assert top["date"] == fc["date"]
        direct = ctl("warmup", "forecast", w["identity"], "--volume", str(top["limit"]))
        assert direct["plan"] == fc["plan"] and direct["date"] == fc["date"]
        assert d.fields[("identity", w["identity"], "forecast_level")] == str(top["level"])
        assert d.fields[("identity", w["identity"], "forecast_limit")] == str(top["limit"])
        assert d.fields[("identity", w["identity"], "forecast_date")] == fc["date"]
        for day in fc["plan"]:
            assert d.fields[("identity", w["identity"], "limit@" + day["date"])] == f"{day['limit']} ({day['level']})"
    # A bounce rate of 25 % holds example.com at level 1; example.net climbs
    # the built-in plan to 1 000 000 a day in 19 days.
    assert len(warm[0]["forecast"]["plan"]) == 1 and "stays at 1" in warm[0]["forecast"]["note"]
    assert (tops["example.net"]["level"], tops["example.net"]["limit"]) == (20, 1000000)
    assert warm[1]["forecast"]["days"] == 19
    assert "forecast-box" not in d.hidden and "forecast-chart-box" not in d.hidden

    # Recent events: the bounce and the deliveries; /v1/events is `sesctl events --json`.
    events = ctl("events")["Events"]
    assert api(port, "/v1/events?limit=1000", key) == {"Events": events}
    assert api(port, "/v1/events?type=bounce", key)["Events"] == [e for e in events if e["Type"] == "bounce"]
    assert api(port, "/v1/events?limit=2", key)["Events"] == events[:2]
    assert fetch(port, "/v1/events?limit=0", key)[0] == 400
    assert fetch(port, "/v1/events?since=yesterday", key)[0] == 400
    assert fetch(port, "/v1/events", None)[0] == 401
    assert api(port, "/v1/events/failed", key) == {"Failed": failed}
    assert d.failed == [f["EventId"] for f in failed]
    assert "bounce" in d.events and "delivered" in d.events
    assert sorted(d.events) == sorted(e["Type"] for e in events)
    assert d.by_id["held-count"] == "(0)"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    if shot.exists():
        shot.unlink()
    chromium(url, tmp_path, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars")
    if os.environ.get("DASHBOARD_FULL_SHOT"):   # the whole page, for a look at every section
        chromium(url, tmp_path, f"--screenshot={ARTIFACTS / 'dashboard-full.png'}", "--window-size=1280,2000",
                 "--hide-scrollbars")
    assert shot.stat().st_size > 10000

    # A revoked key: back to the form, with a reason.
    ctl("apikey", "revoke", "dashboard")
    d, _ = render(url, tmp_path)
    assert "login" not in d.hidden and "data" in d.hidden
    assert "refused" in d.by_id["login-error"]

    # Without Chart.js (libjs-chart.js not installed): a log line at
    # start-up, a note in place of the chart, the same numbers.
    m.stop()
    listen = f'listen = ["{h.LOOPBACK}:{port}"]'
    m.write_config(m.config_text.replace(listen, listen + f'\ndashboard_assets = "{tmp_path}/no-chart"'))
    m.start()
    h.wait_port(port)
    assert "dashboard shows tables without the chart" in m.log()
    key = ctl("apikey", "create", "again")["key"]
    d, _ = render(f"http://{h.LOOPBACK}:{port}/#key={key}", tmp_path)
    assert d.body_attrs.get("data-loaded") == "true"
    assert "chart-box" in d.hidden and "chart-missing" not in d.hidden
    assert "forecast-chart-box" in d.hidden and "forecast-box" not in d.hidden
    assert d.fields[("identity", "example.net", "forecast_date")] == warm[1]["forecast"]["date"]
    for f in funnel:
        assert d.by_id[f"total-{f}"] == str(stats["Total"][f]), f
