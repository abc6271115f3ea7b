"""The suppression list through a real Postfix: a hard bounce from the
delivery-tracking path (Postfix's log, a next hop answering 550) puts the
address on the list; the next message to it loses that recipient at end of
message (smfi_delrcpt) with DeliverStatus 2 / SendStatus 1007 and a `dropped`
event, or is discarded (250 to the client, nothing at the next hop) when it
was the only one; `sesctl suppression import` reports bad CSV rows by line
number and imports the good ones; `remove` lets mail through again.

Next hops (transport_maps): the default smtp-sink accepts; reject.example
goes to an smtp-sink that answers RCPT with 5xx (-f RCPT)."""

import json
import time

import harness as h

SENDER = "alice@example.com"


def ctl(milter, *args, check=True):
    return h.sesctl("-c", str(milter.config_path), *args, check=check)


def ctl_json(milter, *args):
    return json.loads(ctl(milter, *args, "--json").stdout)


def status_of(milter, mid):
    return {e["To"]: e for e in ctl_json(milter, "status", mid)["EmailStatusList"]}


def wait_status(milter, mid, want, timeout=40.0):
    last = {}

    def done():
        nonlocal last
        last = status_of(milter, mid)
        return all(r in last and last[r]["DeliverStatus"] == s for r, s in want.items())

    try:
        h.wait_for(done, timeout, interval=0.3, what=f"status {want}")
    except h.HarnessError as e:
        raise h.HarnessError(f"{e}\nlast status: {json.dumps(last, indent=1)}")
    return last


def send(mta, milter, rcpts, subject):
    start = len(milter.log())
    msg = h.make_message(f"Alice <{SENDER}>", rcpts, subject, "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250
    line = milter.wait_log(r"(accept|discard):.* id=([a-z2-7]{26})\b.*", 20, start=start)
    return line.group(2), line.group(0)


def with_subject(mta, subject):
    """Deliveries of our messages (Postfix's own bounces to the sender also
    reach the sink)."""
    return [d for d in mta.sink.deliveries() if f"Subject: {subject}\r\n".encode() in d.message]


def addr(rcpt_args: str) -> str:
    return rcpt_args.split()[0].strip("<>").lower()


def test_hard_bounce_suppresses_then_remove_lets_mail_through(mta, keys):
    reject = h.Sink(mta.dir / "sink-reject", h.free_port(), extra_args=["-f", "RCPT"]).start()
    try:
        mta.postfix.postconf(transport_maps=f"inline:{{reject.example=smtp:[{h.LOOPBACK}]:{reject.port}}}")
        mta.postfix.reload()
        extra = f'[mta]\nlog_file = "{mta.postfix.maillog_path}"\nlog_poll_interval = "1s"\n'
        m = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra))

        # 1. A hard bounce through Postfix's log puts the address on the list.
        mid, _ = send(mta, m, ["ok@ok.example", "Gone@reject.example"], "first")
        wait_status(m, mid, {"ok@ok.example": 1, "Gone@reject.example": 3})
        listed = h.wait_for(lambda: ctl_json(m, "suppression", "list")["Suppressed"], 10,
                            what="a suppression entry")
        assert len(listed) == 1, listed
        e = listed[0]
        assert e["Address"] == "gone@reject.example"
        assert e["Reason"] == "hard_bounce"
        assert e["Scope"] == "global"
        assert e["SourceMessageId"] == mid
        assert e["Expires"] == 0
        h.wait_for(lambda: with_subject(mta, "first"), 20, what="the first delivery")

        # 2. The next message to it: that recipient is dropped, the other delivered.
        mid2, line = send(mta, m, ["gone@reject.example", "ok2@ok.example"], "second")
        assert "suppressed=gone@reject.example(hard_bounce)" in line, line
        st = wait_status(m, mid2, {"ok2@ok.example": 1})
        assert st["gone@reject.example"]["DeliverStatus"] == 2
        assert st["gone@reject.example"]["SendStatus"] == 1007
        assert st["ok2@ok.example"]["SendStatus"] == 0
        events = [ev for ev in ctl_json(m, "events")["Events"] if ev["MessageId"] == mid2]
        dropped = [ev for ev in events if ev["Type"] == "dropped"]
        assert [ev["To"] for ev in dropped] == ["gone@reject.example"], events
        second = h.wait_for(lambda: with_subject(mta, "second"), 20, what="the second delivery")
        assert len(second) == 1
        assert [addr(r) for r in second[0].rcpts] == ["ok2@ok.example"], second[0].rcpts
        assert "status=bounced" not in "".join(
            l for l in mta.postfix.maillog.splitlines() if "gone@reject.example" in l and mid2 in l)

        # 3. It was the only recipient: discarded, the client still got 250.
        mid3, line = send(mta, m, ["gone@reject.example"], "third")
        assert line.startswith("discard:") or " discard:" in line, line
        st = status_of(m, mid3)
        assert st["gone@reject.example"]["DeliverStatus"] == 2
        assert st["gone@reject.example"]["SendStatus"] == 1007
        time.sleep(3)
        assert with_subject(mta, "third") == []  # nothing reached the next hop
        assert not [q for q in mta.postfix.queue()]  # nor waits in Postfix's queue

        t = ctl_json(m, "stats")["Total"]
        assert t["RequestCount"] == 5 and t["DroppedCount"] == 2 and t["HardBounceCount"] == 1, t

        # 4. Off the list: mail goes to it again (and bounces again).
        out = ctl(m, "suppression", "remove", "GONE@reject.example").stdout
        assert "removed 1" in out
        assert ctl_json(m, "suppression", "list")["Suppressed"] == []
        mid4, line = send(mta, m, ["gone@reject.example"], "fourth")
        assert "suppressed=" not in line
        st = wait_status(m, mid4, {"gone@reject.example": 3})
        assert st["gone@reject.example"]["SendStatus"] == 0
    finally:
        reject.stop()


def test_csv_import_reports_bad_rows_and_export_round_trips(mta, keys, tmp_path):
    m = mta.milter(mta.config({"example.com": [keys.rsa]}))
    csv = tmp_path / "list.csv"
    csv.write_text(
        "address,reason,scope,time,source,expires\n"   # 1 header
        "one@remote.test\n"                             # 2 good: manual, global
        "not-an-address\n"                              # 3 bad
        "two@remote.test,complaint,example.com\n"       # 4 good: this identity only
        "three@remote.test,bounced\n"                   # 5 bad reason
        "\n"                                            # 6 blank, skipped
        '"Four@Remote.test",hard_bounce,,2030-01-01T00:00:00Z,,1900000000\n'  # 7 good
        "five@remote.test,manual,,yesterday\n")         # 8 bad time
    cp = ctl(m, "suppression", "import", str(csv), check=False)
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    assert "imported 3 entries" in cp.stdout
    for n in (3, 5, 8):
        assert f"{csv}:{n}:" in cp.stderr, cp.stderr
    for n in (1, 2, 4, 6, 7):
        assert f"{csv}:{n}:" not in cp.stderr, cp.stderr

    cpj = ctl(m, "suppression", "import", str(csv), "--json", check=False)
    assert [b["Line"] for b in json.loads(cpj.stdout)["Bad"]] == [3, 5, 8]

    got = {(e["Address"], e["Scope"]): e for e in ctl_json(m, "suppression", "list")["Suppressed"]}
    assert set(got) == {("one@remote.test", "global"), ("two@remote.test", "example.com"),
                        ("four@remote.test", "global")}
    assert got[("four@remote.test", "global")]["Reason"] == "hard_bounce"
    assert got[("four@remote.test", "global")]["Expires"] == 1900000000
    assert got[("two@remote.test", "example.com")]["Reason"] == "complaint"

    exported = ctl(m, "suppression", "export").stdout.splitlines()
    assert exported[0] == "address,reason,scope,time,source,expires"
    assert len(exported) == 4
    # The export imports again without a bad row.
    again = tmp_path / "again.csv"
    again.write_text("\n".join(exported) + "\n")
    cp = ctl(m, "suppression", "import", str(again))
    assert "imported 3 entries" in cp.stdout

    # The imported entries are enforced: two@ only for example.com, which
    # is this message's identity.
    mid, line = send(mta, m, ["one@remote.test", "two@remote.test", "ok@remote.test"], "imported")
    assert "suppressed=one@remote.test(manual)" in line and "suppressed=two@remote.test(complaint)" in line, line
    mta.sink.wait_count(1, 20)
    assert [addr(r) for r in mta.sink.deliveries()[0].rcpts] == ["ok@remote.test"]
