"""The mailbox simulator through a real Postfix: every scenario address is
removed before the message leaves (the sink receives nothing), gets the
record and events of the real scenario marked simulated (`sesctl status
--json`, `sesctl events --json`), is counted in `sesctl stats --simulated`
and not in the real statistics, touches neither the warm-up counters nor
the suppression list; mixed with a real recipient only the real one is
delivered."""

import json

import harness as h

SENDER = "alice@example.com"
DOM = "simulator.sesmilter.invalid"

# scenario address -> (DeliverStatus, SendStatus, BounceType, events after `processed`)
TABLE = {
    f"success@{DOM}": (1, 0, "none", ["delivered"]),
    f"bounce+test1@{DOM}": (3, 0, "hard", ["bounce"]),
    f"softbounce@{DOM}": (1, 0, "none", ["deferred", "delivered"]),
    f"ooto@{DOM}": (1, 0, "none", ["delivered", "auto_reply"]),
    f"complaint@{DOM}": (1, 0, "none", ["delivered", "spamreport"]),
    f"unsubscribe@{DOM}": (1, 0, "none", ["delivered", "unsubscribe"]),
    f"suppressed@{DOM}": (2, 1007, "none", None),  # dropped at submission
}


def ctl_json(milter, *args):
    return json.loads(h.sesctl("-c", str(milter.config_path), *args, "--json").stdout)


def warmup_sent(milter):
    """Recipients counted by warm-up today (0 before the identity's first mail)."""
    cp = h.sesctl("-c", str(milter.config_path), "warmup", "status", "example.com", "--json", check=False)
    out = json.loads(cp.stdout)
    if cp.returncode != 0:
        assert "unknown identity" in out["error"], out
        return 0
    return out["today"]["sent"]


def test_every_scenario_end_to_end(mta, keys, tmp_path):
    store = tmp_path / "store"
    extra = f"""
[store]
path = "{store}"

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
    m = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra))
    assert warmup_sent(m) == 0

    rcpts = list(TABLE)
    start = len(m.log())
    msg = h.make_message(f"Alice <{SENDER}>", rcpts, "simulator", "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250
    line = m.wait_log(r"discard:.* id=([a-z2-7]{26})\b.*", 20, start=start)
    mid = line.group(1)
    for r in rcpts:
        assert f"simulator={r}(" in line.group(0), line.group(0)

    st = {e["To"]: e for e in ctl_json(m, "status", mid)["EmailStatusList"]}
    assert set(st) == set(rcpts)
    for r, (deliver, send_status, bounce, _) in TABLE.items():
        assert st[r]["DeliverStatus"] == deliver, (r, st[r])
        assert st[r]["SendStatus"] == send_status, (r, st[r])
        assert st[r]["BounceType"] == bounce, (r, st[r])
        assert st[r]["Simulated"] is True
    assert "5.1.1" in st[f"bounce+test1@{DOM}"]["DeliverMessage"]
    assert st[f"complaint@{DOM}"]["UserComplainted"] is True
    assert st[f"unsubscribe@{DOM}"]["UserUnsubscribed"] is True

    events = [e for e in ctl_json(m, "events")["Events"] if e["MessageId"] == mid]
    assert all(e["Simulated"] for e in events)
    for r, (_, _, _, after) in TABLE.items():
        got = [e["Type"] for e in events if e["To"] == r]
        assert got == (["dropped"] if after is None else ["processed"] + after), (r, got)

    # Statistics: the simulated dimension only.
    real = ctl_json(m, "stats")["Total"]
    assert real["RequestCount"] == 0 and real["DeliveredCount"] == 0, real
    sim = ctl_json(m, "stats", "--simulated")
    assert sim["Simulated"] is True
    t = sim["Total"]
    want = {"RequestCount": 7, "AcceptedCount": 6, "DeliveredCount": 5, "DeferredCount": 1, "BounceCount": 1,
            "HardBounceCount": 1, "ComplaintCount": 1, "UnsubscribeCount": 1, "DroppedCount": 1}
    assert {k: t[k] for k in want} == want, t

    # Nothing left the machine, nothing waits in Postfix, nothing counted
    # against warm-up, nothing on the suppression list.
    assert mta.sink.count() == 0
    assert mta.postfix.queue() == []
    assert warmup_sent(m) == 0
    assert ctl_json(m, "suppression", "list")["Suppressed"] == []

    # Mixed with a real recipient: only the real one reaches the next hop.
    start = len(m.log())
    rc = ["real@remote.test", f"bounce@{DOM}"]
    code, _ = mta.send(h.make_message(f"Alice <{SENDER}>", rc, "mixed", "Hi.\n"), mail_from=SENDER, rcpts=rc)
    assert code == 250
    mid2 = m.wait_log(r"accept:.* id=([a-z2-7]{26})\b", 20, start=start).group(1)
    mta.sink.wait_count(1, 20)
    d = mta.sink.deliveries()
    assert len(d) == 1
    assert [r.split()[0].strip("<>") for r in d[0].rcpts] == ["real@remote.test"]
    st2 = {e["To"]: e for e in ctl_json(m, "status", mid2)["EmailStatusList"]}
    assert st2["real@remote.test"]["Simulated"] is False
    assert st2[f"bounce@{DOM}"]["Simulated"] is True
    assert ctl_json(m, "stats")["Total"]["RequestCount"] == 1
    assert ctl_json(m, "stats", "--simulated")["Total"]["HardBounceCount"] == 2
    assert warmup_sent(m) == 1  # the real message only
    assert ctl_json(m, "suppression", "list")["Suppressed"] == []
