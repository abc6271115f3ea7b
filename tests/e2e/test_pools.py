"""Sending pools through a real Postfix (docs/pools.md): two pools on
loopback source addresses (127.0.0.2 "shared", 127.0.0.3 "dedicated"),
Postfix configured with exactly what `sesctl mta config` prints, and
smtp-sink as the next hop, whose dump records the client address of each
delivery (X-Client-Addr) -- the proof of the address actually used.

The dedicated address may send 5 a day; with a policy that answers
`overflow`, the rest of the day goes out from the shared address at once;
with the shipped rule (hold) it waits in the hold queue for the next day
and then leaves from the dedicated address.  Both under 20 parallel
sessions."""

import json
import os
import threading

import harness as h

FROM = "sender@example.com"
RCPT = "rcpt@remote.test"
DAY1 = "2030-01-07T10:00:00Z"
DAY2 = "2030-01-08T10:00:01Z"
SHARED, DEDICATED = "127.0.0.2", "127.0.0.3"

LIMITS = """
local PLAN = {5, 100}
ses.on("daily_limit", function(identity)
  if identity.kind == "ip" and identity.pool == "dedicated" then
    return PLAN[math.min(identity.level, #PLAN)]
  end
  return 100000  -- the domain, and the established shared address
end)
"""
OVERFLOW = LIMITS + """
ses.on("on_over_quota", function(message, identity)
  if identity.kind == "ip" and identity.pool == "dedicated" then
    return { action = "overflow", pool = "shared" }
  end
  return { action = "hold" }
end)
"""


class Pooled:
    """sesmilter with two pools, and a Postfix set up from `sesctl mta config`."""

    def __init__(self, dir, sesmilter_bin, sesctl_bin, keys, script, extra_pool=""):
        self.dir = dir
        self.sesctl_bin = sesctl_bin
        self.keys = keys
        self.sink = h.Sink(dir / "sink", h.free_port())
        socket = dir / "milter.sock"
        pf_root = dir / "postfix"
        (dir / "plan.lua").write_text(script)
        self.config = h.sesmilter_config(f"unix:{socket}", None, extra=f"""
[[domain]]
name = "example.com"
dkim = [ {{ selector = "{keys.rsa['selector']}", key = "{keys.rsa['key_file']}" }} ]
pool = "dedicated"

[[pool]]
name = "shared"
addresses = ["{SHARED}"]
helo_name = "shared.sesmilter.test"

[[pool]]
name = "dedicated"
addresses = ["{DEDICATED}"{extra_pool}]
helo_name = "dedicated.sesmilter.test"

[store]
path = "{dir / 'store'}"

[policy]
script = "{dir / 'plan.lua'}"

[warmup]
enabled = true
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{pf_root / 'etc'}"
default_pool = "shared"
pool_next_hop = "[127.0.0.1]:{self.sink.port}"
""")
        self.milter = h.Sesmilter(sesmilter_bin, self.config, dir)
        self.printed = self.sesctl(DAY1, "mta", "config")
        # The printed configuration, as is.
        etc = pf_root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        m = self.printed["map"]
        assert m["path"] == str(etc / "sesmilter_pools.regexp")
        (etc / "sesmilter_pools.regexp").write_text("\n".join(m["lines"]) + "\n")
        self.postfix = h.Postfix(pf_root, h.free_port(), self.sink.port, milter=f"unix:{socket}",
                                 extra_main_cf="\n".join(self.printed["main_cf"]),
                                 extra_master_cf="\n".join(self.printed["master_cf"]))

    def start(self, now):
        self.sink.start()
        self.postfix.start()
        self.restart(now)
        return self

    def restart(self, now):
        if self.milter.running():
            self.milter.stop()
        self.milter.env = dict(os.environ, SESMILTER_NOW=now)
        self.milter.start()

    def stop(self):
        self.milter.stop()
        self.postfix.stop()
        self.sink.stop()

    def sesctl(self, now, *args, check=True):
        cp = h._run([self.sesctl_bin, "-c", self.milter.config_path, "--now", now, *args, "--json"],
                    check=check, env=dict(os.environ, SESMILTER_NOW=now))
        return json.loads(cp.stdout) if cp.stdout.strip() else {}

    def send_parallel(self, sessions, per_session, tag):
        codes, errors = [], []
        lock = threading.Lock()

        def client(t):
            for i in range(per_session):
                msg = h.make_message(FROM, RCPT, f"{tag} {t}-{i}", "x\n")
                try:
                    c = h.send(self.postfix.smtpd_port, FROM, [RCPT], msg)[0]
                except Exception as e:  # noqa: BLE001 -- reported below
                    with lock:
                        errors.append(repr(e))
                    continue
                with lock:
                    codes.append(c)

        ts = [threading.Thread(target=client, args=(t,)) for t in range(sessions)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert errors == []
        return codes

    def by_address(self):
        out = {}
        for d in self.sink.deliveries():
            out[d.client_addr] = out.get(d.client_addr, 0) + 1
        return out

    def held(self):
        return [q for q in self.postfix.queue() if q.get("queue_name") == "hold"]


def make(request, e2e_root, sesmilter_bin, sesctl_bin, keys, script, **kw):
    d = e2e_root / request.node.name[:40]
    d.mkdir()
    d.chmod(0o755)
    p = Pooled(d, sesmilter_bin, sesctl_bin, keys, script, **kw)
    request.addfinalizer(p.stop)
    return p


def test_mta_config_prints_one_transport_per_address(request, e2e_root, sesmilter_bin, sesctl_bin, keys):
    p = make(request, e2e_root, sesmilter_bin, sesctl_bin, keys, LIMITS)
    pc = p.printed
    assert pc["main_cf"] == [f"milter_header_checks = regexp:{p.postfix.etc}/sesmilter_pools.regexp"]
    assert pc["master_cf"][:5] == [
        "ses_127_0_0_2 unix - - n - - smtp",
        "  -o smtp_bind_address=127.0.0.2",
        "  -o smtp_bind_address_enforce=yes",
        "  -o inet_protocols=ipv4",
        "  -o smtp_helo_name=shared.sesmilter.test",
    ]
    assert pc["map"]["lines"][1] == \
        r"/^X-SES-Pool:[[:space:]]*dedicated 127\.0\.0\.3[[:space:]]*$/ FILTER ses_127_0_0_3:" + \
        f"[127.0.0.1]:{p.sink.port}"
    # Postfix takes it as printed, and --check-config finds nothing to say.
    p.postfix.check()
    cp = p.milter.check_config()
    assert cp.returncode == 0, cp.stderr
    assert "pool:" not in cp.stdout, cp.stdout
    # A third address in the pools that Postfix does not know: warned.
    p.milter.write_config(p.config.replace(f'"{DEDICATED}"]', f'"{DEDICATED}", "127.0.0.4"]'))
    cp = p.milter.check_config()
    assert cp.returncode == 0, cp.stderr
    assert 'no service "ses_127_0_0_4 unix ... smtp"' in cp.stdout, cp.stdout
    assert "missing" in cp.stdout and "127\\.0\\.0\\.4" in cp.stdout, cp.stdout


def test_overflow_to_the_shared_pool_under_twenty_sessions(request, e2e_root, sesmilter_bin, sesctl_bin, keys):
    p = make(request, e2e_root, sesmilter_bin, sesctl_bin, keys, OVERFLOW).start(DAY1)
    codes = p.send_parallel(20, 2, "ovf")
    assert codes == [250] * 40
    p.sink.wait_count(40, 60)
    p.postfix.wait_queue_empty(30)
    # Exactly the dedicated address's quota left from it; the rest the same
    # day from the shared one.
    assert p.by_address() == {DEDICATED: 5, SHARED: 35}
    ded = p.sesctl(DAY1, "warmup", "status", f"ip:{DEDICATED}")
    shr = p.sesctl(DAY1, "warmup", "status", f"ip:{SHARED}")
    dom = p.sesctl(DAY1, "warmup", "status", "example.com")
    assert ded["today"]["sent"] == 5 and ded["today"]["held"] == 0
    assert shr["today"]["sent"] == 35
    assert dom["today"]["sent"] == 40
    assert p.held() == []
    # The signature holds at the next hop: X-SES-Pool is outside it.
    for d in p.sink.deliveries()[:3]:
        assert b"X-SES-Pool: " in d.message
        assert h.dkim_verify(d.message, keys.txt), d.message[:400]
    # The log line and the record say which pool and address.
    log = p.milter.log()
    assert log.count(f"pool=dedicated address={DEDICATED}") == 5, log[-2000:]
    assert log.count(f"pool=shared address={SHARED} overflow_from=dedicated") == 35
    st = p.sesctl(DAY1, "status", "--recipient", RCPT)
    rows = st["EmailStatusList"]
    assert len(rows) == 40
    assert sorted((r["Pool"], r["SourceAddress"], r["OverflowFrom"]) for r in rows) == \
        [("dedicated", DEDICATED, "")] * 5 + [("shared", SHARED, "dedicated")] * 35


def test_the_shipped_rule_holds_and_releases_from_the_dedicated_address(request, e2e_root, sesmilter_bin,
                                                                         sesctl_bin, keys):
    p = make(request, e2e_root, sesmilter_bin, sesctl_bin, keys, LIMITS).start(DAY1)
    codes = p.send_parallel(20, 1, "hold")
    assert codes == [250] * 20
    p.sink.wait_count(5, 60)
    h.wait_for(lambda: len(p.held()) == 15, 30, what="15 held messages")
    h.wait_for(lambda: len(p.postfix.queue()) == 15, 30, what="only held mail left")
    assert p.by_address() == {DEDICATED: 5}
    ded = p.sesctl(DAY1, "warmup", "status", f"ip:{DEDICATED}")
    assert ded["today"]["sent"] == 5 and ded["today"]["held"] == 15
    # The next day (level 2: 100 a day) they leave from the same address.
    r = p.sesctl(DAY2, "queue", "release-due")
    assert r["released"] == 15, r
    p.sink.wait_count(20, 60)
    p.postfix.wait_queue_empty(30)
    assert p.by_address() == {DEDICATED: 20}
    ded = p.sesctl(DAY2, "warmup", "status", f"ip:{DEDICATED}")
    assert ded["today"]["released"] == 15
