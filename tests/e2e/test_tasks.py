"""Batch tasks through a real Postfix: a group of 2 000 recipients with their
own variables gets one rendered message each; a task survives kill -9 of
sesmilter and Postfix in the middle (every recipient delivered, duplicates
only within the documented bound and counted); a warm-up limit of 100 a day
sends 100, shows status 6 "paused for today" with nothing in the hold queue
and goes on as the clock moves; scheduled and recurring tasks fire at their
times (moved clock).  Tasks are created over the HTTP API (POST /v1/tasks)
and with `sesctl task`."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections import Counter

import harness as h

SENDER = "news@example.com"
TEXT = "Hello {{name}}, your code is {{code}}.\n"
SUBJECT = "Code for {{name}}"


class Clock:
    """The daemon's clock: a file it re-reads when it changes."""

    def __init__(self, path, now):
        self.path = path
        self.now = now
        self.write()

    def write(self):
        tmp = str(self.path) + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.now}\n")
        os.replace(tmp, self.path)

    def advance(self, seconds):
        self.now += seconds
        self.write()

    def text(self, offset=0):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now + offset))


class Batch:
    """sesmilter with records, the HTTP API, a template and a test clock."""

    def __init__(self, mta, keys, sesctl_bin, daily_limit=None, clock_start=None):
        self.mta = mta
        self.sesctl_bin = sesctl_bin
        self.port = h.free_port()
        self.clock = Clock(mta.dir / "clock", clock_start or int(time.time()))
        warm = ""
        if daily_limit:
            script = mta.dir / "plan.lua"
            script.write_text(f'ses.on("daily_limit", function(identity) return {daily_limit} end)\n')
            warm = f"""
[policy]
script = "{script}"

[warmup]
enabled = true
time_zone = "UTC"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
"""
        extra = f"""
[store]
path = "{mta.dir / 'store'}"

[http]
listen = ["{h.LOOPBACK}:{self.port}"]
max_body = "4MiB"

[send]
smtp = "{h.LOOPBACK}:{mta.port}"

[tasks]
batch = 20
retry = "1s"
{warm}"""
        self.milter = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra), start=False)
        self.milter.env = dict(os.environ, SESMILTER_CLOCK_FILE=str(self.clock.path))
        self.key = self.ctl("apikey", "create", "ops", "--json")["key"]
        tpl = mta.dir / "code.txt"
        tpl.write_text(TEXT)
        self.ctl("template", "put", "code", "--subject", SUBJECT, "--text", str(tpl))

    def start(self):
        self.milter.start()
        h.wait_port(self.port)
        return self

    def ctl(self, *args, check=True):
        cp = h.sesctl("-c", str(self.milter.config_path), *args, binary=self.sesctl_bin, check=check)
        try:
            return json.loads(cp.stdout)
        except ValueError:
            return cp.stdout

    def call(self, method, path, body=None, content_type="application/json"):
        data = body if isinstance(body, (bytes, type(None))) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(f"http://{h.LOOPBACK}:{self.port}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def group(self, n, name="g"):
        code, g = self.call("POST", "/v1/groups", {"Name": name})
        assert code == 200, g
        gid = g["GroupId"]
        rows = ["email,name,code"] + [f"r{i:05d}@remote.test,Name {i},C{i * 7919 % 100000:05d}" for i in range(n)]
        code, rep = self.call("POST", f"/v1/groups/{gid}/recipients", "\n".join(rows) + "\n", "text/csv")
        assert code == 200 and rep["Added"] == n and rep["Errors"] == [], rep
        return gid

    def task(self, **fields):
        body = {"FromEmailAddress": SENDER, "Subject": "unused", "Template": {"TemplateName": "code"}, **fields}
        code, r = self.call("POST", "/v1/tasks", body)
        assert code == 200, r
        return r["TaskId"]

    def status(self, tid):
        code, t = self.call("GET", f"/v1/tasks/{tid}")
        assert code == 200, t
        return t

    def wait_status(self, tid, want, timeout=120):
        return h.wait_for(lambda: self.status(tid)["Status"] in want and self.status(tid),
                          timeout, interval=0.3, what=f"task {tid} status {want}")


def code_of(i):
    return f"C{i * 7919 % 100000:05d}"


def by_rcpt(deliveries):
    out = {}
    for d in deliveries:
        msg = email.message_from_bytes(d.message, policy=email.policy.default)
        out.setdefault(str(msg["To"]), []).append(msg)
    return out


def test_group_of_2000_each_gets_its_own_values(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin).start()
    gid = b.group(2000)
    tid = b.task(TaskType=1, GroupId=gid)
    t = b.wait_status(tid, {10}, timeout=300)
    assert (t["RequestCount"], t["SendCount"], t["SkippedCount"], t["FailedCount"], t["CacheCount"]) == \
        (2000, 2000, 0, 0, 0), t
    got = by_rcpt(mta.sink.wait_count(2000, timeout=120) and mta.sink.deliveries())
    assert len(got) == 2000
    for i in range(2000):
        msgs = got[f"r{i:05d}@remote.test"]
        assert len(msgs) == 1
        m = msgs[0]
        assert m["Subject"] == f"Code for Name {i}"
        assert m.get_body(("plain",)).get_content().replace("\r\n", "\n") == f"Hello Name {i}, your code is {code_of(i)}.\n"
        assert "X-SES-Template" not in m and "X-SES-Submission" not in m
        assert m["DKIM-Signature"]
    # The message ids the task assigned are the records' ids.
    mid = next(iter(got.values()))[0]["X-SES-Message-ID"]
    assert mid and b.ctl("status", str(mid), "--json")["EmailStatusList"]
    # sesctl shows the same document as the API.
    assert b.ctl("task", "show", str(tid), "--json") == b.status(tid)


def kill9_postfix(pf):
    pid = pf.master_pid
    kids = h._children(pid)
    h._kill_pids([pid] + kids, signal.SIGKILL)
    h._wait_gone([pid] + kids, 5)
    pf.master_pid = None


def test_kill9_mid_task_every_recipient_once(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin).start()
    n = 600
    gid = b.group(n)
    tid = b.task(TaskType=1, GroupId=gid)
    h.wait_for(lambda: b.status(tid)["SendCount"] >= 150, 120, interval=0.1, what="150 sent")
    b.milter.kill9()
    kill9_postfix(mta.postfix)
    mid = b.ctl("task", "show", str(tid), "--json")
    assert mid["Status"] == 5 and mid["SendCount"] < n, mid
    mta.postfix.start()
    b.start()
    t = b.wait_status(tid, {10}, timeout=300)
    assert t["SendCount"] == n and t["FailedCount"] == 0, t
    mta.postfix.flush()
    h.wait_for(lambda: len({d.rcpts[0] for d in mta.sink.deliveries()}) >= n, 120, interval=0.5,
               what="every recipient delivered")
    msgs = [email.message_from_bytes(d.message) for d in mta.sink.deliveries()]
    counts = Counter(str(m["To"]) for m in msgs)
    assert set(counts) == {f"r{i:05d}@remote.test" for i in range(n)}
    # A message submitted again carries the id it was given the first time:
    # one message id per recipient, however often it went out.
    ids = {(str(m["To"]), str(m["X-SES-Message-ID"])) for m in msgs}
    assert len(ids) == n and len({i for _, i in ids}) == n
    dups = sum(c - 1 for c in counts.values())
    # Only the batch taken up after the restart can repeat, and it is counted.
    print("kill9: duplicates", dups, "resubmitted", t["ResubmittedCount"], "sent before", mid["SendCount"])
    assert dups <= t["ResubmittedCount"] <= 20, (dups, t)


def test_warmup_quota_pauses_for_today_and_resumes(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin, daily_limit=100).start()
    gid = b.group(300)
    tid = b.task(TaskType=1, GroupId=gid)
    t = b.wait_status(tid, {6}, timeout=120)
    assert t["SendCount"] == 100 and t["StatusText"] == "paused for today", t
    time.sleep(2)  # nothing more goes out today
    assert b.status(tid)["SendCount"] == 100
    mta.sink.wait_count(100, timeout=60)
    assert mta.postfix.queue() == [] or all(q["queue_name"] != "hold" for q in mta.postfix.queue())
    for day in (1, 2):
        b.clock.advance(86400)
        h.wait_for(lambda: b.status(tid)["SendCount"] == 100 * (day + 1), 120, interval=0.3,
                   what=f"day {day}")
    t = b.wait_status(tid, {10, 6}, timeout=60)
    if t["Status"] == 6:  # the group ended exactly at the quota: done on the next day
        b.clock.advance(86400)
        t = b.wait_status(tid, {10}, timeout=60)
    assert t["SendCount"] == 300
    mta.sink.wait_count(300, timeout=120)
    assert all(q["queue_name"] != "hold" for q in mta.postfix.queue())
    assert len({d.rcpts[0] for d in mta.sink.deliveries()}) == 300


def test_scheduled_and_recurring_tasks_fire_at_their_times(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin).start()
    gid = b.group(3)
    later = b.task(TaskType=2, GroupId=gid, TimedParam={"BeginTime": b.clock.text(3600)})
    # The same time given in another zone: +02:00 is two hours ahead of UTC.
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(b.clock.now + 3 * 3600 + 7200))
    zoned = b.task(TaskType=2, GroupId=gid, TimedParam={"BeginTime": local}, TimeZone="+02:00")
    cycle = b.task(TaskType=3, GroupId=gid, CycleParam={"BeginTime": b.clock.text(), "IntervalTime": 24,
                                                         "MaxRuns": 2})
    # The recurring one runs now; the scheduled ones wait.
    t = h.wait_for(lambda: (lambda s: s["Run"] == 2 and s["Status"] == 1 and s)(b.status(cycle)), 60,
                   interval=0.3, what="first run")
    assert t["SendCount"] == 3
    time.sleep(2)
    assert b.status(later)["Status"] == 1 and b.status(later)["SendCount"] == 0
    assert mta.sink.wait_count(3, timeout=60) and mta.sink.count() == 3
    b.clock.advance(3600)
    assert b.wait_status(later, {10})["SendCount"] == 3
    assert b.status(zoned)["Status"] == 1
    b.clock.advance(2 * 3600)
    assert b.wait_status(zoned, {10})["SendCount"] == 3
    assert b.status(cycle)["Status"] == 1
    b.clock.advance(21 * 3600)
    t = b.wait_status(cycle, {10})
    assert t["SendCount"] == 6 and t["Run"] == 2
    mta.sink.wait_count(12, timeout=60)
    assert mta.sink.count() == 12


def test_task_requests_checked_pause_resume_cancel(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin).start()
    gid = b.group(50)
    base = {"FromEmailAddress": SENDER, "Template": {"TemplateName": "code"}}
    for body, field in [({**base, "TaskType": 1}, "GroupId"),
                        ({**base, "TaskType": 4, "GroupId": gid}, "TaskType"),
                        ({**base, "TaskType": 1, "GroupId": 999}, "no group"),
                        ({**base, "TaskType": 1, "GroupId": gid, "Template": {"TemplateName": "nope"}}, "no template"),
                        ({**base, "TaskType": 1, "GroupId": gid, "FromEmailAddress": "x@other.test"}, "identity"),
                        ({**base, "TaskType": 2, "ReceiverId": gid, "TimedParam": {"BeginTime": "tomorrow"}},
                         "TimedParam.BeginTime"),
                        ({**base, "TaskType": 3, "GroupId": gid, "CycleParam": {"BeginTime": b.clock.text()}},
                         "IntervalTime")]:
        code, r = b.call("POST", "/v1/tasks", body)
        assert code == 400 and field in r["error"], (body, r)
    # ReceiverId is GroupId's alias; a task created paused-free is paused at once.
    tid = b.task(TaskType=2, ReceiverId=gid, TimedParam={"BeginTime": b.clock.text(60)})
    assert b.status(tid)["GroupId"] == gid
    code, r = b.call("POST", f"/v1/tasks/{tid}/pause")
    assert code == 200 and r["Status"] == 8
    b.clock.advance(120)
    time.sleep(2)
    assert b.status(tid)["SendCount"] == 0
    code, r = b.call("POST", f"/v1/tasks/{tid}/resume")
    assert code == 200 and r["Status"] == 1
    assert b.wait_status(tid, {10})["SendCount"] == 50
    code, r = b.call("POST", f"/v1/tasks/{tid}/cancel")
    assert code == 409 and "done" in r["error"]
    assert b.call("POST", "/v1/tasks/999/pause")[0] == 404
    # sesctl: create and cancel before it starts.
    t2 = b.ctl("task", "create", "--type", "2", "--from", SENDER, "--group", str(gid), "--template", "code",
               "--begin", b.clock.text(3600), "--json")["TaskId"]
    assert b.ctl("task", "cancel", str(t2), "--json")["Status"] == 9
    listed = b.ctl("task", "list", "--json")["Tasks"]
    assert [x["TaskId"] for x in listed] == [tid, t2]


def test_suppressed_skipped_and_refused_counted(mta, keys, sesctl_bin):
    b = Batch(mta, keys, sesctl_bin).start()
    gid = b.group(5)
    b.ctl("suppression", "add", "r00001@remote.test")
    tid = b.task(TaskType=1, GroupId=gid)
    t = b.wait_status(tid, {10})
    assert (t["RequestCount"], t["SendCount"], t["SkippedCount"], t["FailedCount"]) == (5, 4, 1, 0), t
    mta.sink.wait_count(4, timeout=60)
    assert sorted(by_rcpt(mta.sink.deliveries())) == \
        [f"r{i:05d}@remote.test" for i in (0, 2, 3, 4)]
    # A template deleted after the task was made: the milter refuses each
    # message with 554, and the task counts them as failed, not as sent.
    tid = b.task(TaskType=2, GroupId=gid, TimedParam={"BeginTime": b.clock.text(60)})
    b.ctl("template", "delete", "code")
    b.clock.advance(60)
    t = b.wait_status(tid, {10})
    assert (t["SendCount"], t["SkippedCount"], t["FailedCount"]) == (0, 1, 4), t
    assert "no such template" in b.milter.log() or "554" in mta.postfix.maillog
    time.sleep(1)
    assert mta.sink.count() == 4


def test_console_upload_group_and_run_task(mta, keys, sesctl_bin, tmp_path):
    """The dashboard's group and task pages, driven in headless chromium
    over the DevTools protocol: create a group, upload a CSV with two bad
    rows (shown with their lines), create a task and watch it finish, pause,
    resume and cancel a scheduled one with the buttons.  Screenshots are
    kept in build/e2e-artifacts/console-*.png."""
    import pytest
    import cdp
    if not os.path.exists(cdp.CHROMIUM):
        pytest.skip("/usr/bin/chromium is not installed (Debian: chromium)")
    b = Batch(mta, keys, sesctl_bin).start()
    csv = tmp_path / "people.csv"
    rows = ["email,name,code"] + [f"p{i:03d}@remote.test,Person {i},{code_of(i)}" for i in range(30)]
    rows.insert(3, "not-an-address,X,Y")
    rows.insert(8, "p999@remote.test,too,many,fields")
    csv.write_text("\n".join(rows) + "\n")
    page = cdp.Page(f"http://{h.LOOPBACK}:{b.port}/#key={b.key}", tmp_path / "chromium")
    artifacts = h.BUILD / "e2e-artifacts"
    try:
        page.wait_js("document.body.dataset.loaded === 'true'", what="dashboard loaded")
        page.js("document.getElementById('group-name').value = 'people';"
                "document.getElementById('group-form').requestSubmit(); true")
        gid = page.wait_js("document.getElementById('upload-group').value", what="group in the upload list")
        page.set_file("#upload-file", csv)
        page.js("document.getElementById('upload-form').requestSubmit(); true")
        assert page.wait_js("document.getElementById('upload-result').dataset.added", what="upload") == "30"
        lines = page.js("[...document.querySelectorAll('#upload-errors [data-line]')].map(e => e.textContent)")
        assert lines == ["4", "9"]
        assert b.call("GET", f"/v1/groups/{gid}")[1]["Count"] == 30
        page.screenshot(artifacts / "console-group.png")

        page.js("document.getElementById('task-from').value = 'news@example.com';"
                "document.getElementById('task-template').value = 'code';"
                f"document.getElementById('task-group').value = '{gid}';"
                "document.getElementById('task-form').requestSubmit(); true")
        tid = page.wait_js("document.getElementById('task-result').dataset.task", what="task created")
        page.wait_js(f"(document.querySelector('[data-task=\"{tid}\"][data-field=\"Status\"]') || {{}}).dataset"
                     "?.status === '10'", timeout=60, what="task done on the page")
        assert page.js(f"document.querySelector('[data-task=\"{tid}\"][data-field=\"SendCount\"]').textContent") \
            == "30"
        mta.sink.wait_count(30, timeout=60)
        page.screenshot(artifacts / "console-tasks.png")

        # A scheduled task: pause, resume and cancel with its buttons.
        later = b.task(TaskType=2, GroupId=int(gid), TimedParam={"BeginTime": b.clock.text(3600)})
        button = f"document.querySelector('button[data-task=\"{later}\"][data-action=\"%s\"]')"
        for action, status in (("pause", 8), ("resume", 1), ("cancel", 9)):
            page.wait_js(f"!!{button % action}", what=f"{action} button")
            page.js(f"{button % action}.click(); true")
            h.wait_for(lambda: b.status(later)["Status"] == status, 10, interval=0.2, what=f"{action} -> {status}")
            page.wait_js(f"document.querySelector('[data-task=\"{later}\"][data-field=\"Status\"]')"
                         f".dataset.status === '{status}'", what=f"page shows {status}")
    finally:
        page.close()
