"""A fleet: three private Postfix instances, each with its own sesmilter and
its own LMDB directory, sharing one warm-up quota through one redis-server on
loopback ([store] backend = "redis", docs/fleet.md).

- 20 concurrent sessions spread over the three hosts against an identity
  limit of 300 deliver exactly 300; the rest is held, each host holding its
  own in its own hold queue.
- Redis killed mid-run: the milters answer per on_error (tempfail: the client
  gets 4xx) and nothing is lost (every 250 is delivered or held); after Redis
  restarts mail flows again, and with `appendfsync always` the restarted Redis
  still knows the day's count (the full identity stays full).
- `sesctl stats` on any host shows the fleet's totals.
- A recipient suppressed through one host (`sesctl suppression add`) is
  dropped by the others; removed through another, mail to it flows again.
- Held mail is released in the fleet's order: two hosts hold (the clock
  moved by SESMILTER_CLOCK_FILE between the holds); the next day, with room
  for one, the newer host's `sesctl queue release-due` runs first and
  releases nothing, the older host's releases its mail, and the newer one's
  goes the day after.

redis-server runs on a free port in a private directory and is stopped by its
PID (as tests/unit/redis_fixture.hpp does for the unit tests)."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

import harness as h
from conftest import MTA

FROM = "sender@example.com"
FROM_NET = "sender@example.net"
RCPT = "rcpt@remote.test"
DAY1 = "2030-01-07T10:00:00Z"
LIMIT = 300
REDIS_SERVER = "/usr/bin/redis-server"

POLICY = f'ses.on("daily_limit", function(identity) return {LIMIT} end)\n'


class Redis:
    """A private redis-server on 127.0.0.1 with AOF and `appendfsync always`,
    so a restart (same port, same directory) replays every charge."""

    def __init__(self, dir):
        self.dir = dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = h.free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
             "--loglevel", "warning", "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.wait_port(self.port, 10)
        return self

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


class Host:
    """One MTA of the fleet: Postfix -> smtp-sink, its sesmilter, its LMDB."""

    def __init__(self, dir, sesmilter_bin, sesctl_bin, keys, redis, policy=POLICY, clock_file=None):
        dir.mkdir()
        dir.chmod(0o755)
        self.mta = MTA(dir, sesmilter_bin)
        self.sesctl_bin = sesctl_bin
        self.clock_file = clock_file
        script = dir / "plan.lua"
        script.write_text(policy)
        extra = f"""
[store]
path = "{dir / 'store'}"
backend = "redis"
redis_url = "{redis.url}"
# appendfsync always flushes inside each call, and three Postfix queues and
# stores share the disk: a short timeout would turn a slow flush into an outage.
redis_timeout_ms = 3000

[policy]
script = "{script}"

[warmup]
enabled = true
time_zone = "UTC"
hold_duration = "24h"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{self.mta.postfix.config_dir}"
"""
        self.config = self.mta.config({"example.com": [keys.rsa], "example.net": [keys.net]}, extra=extra)
        self.milter = None

    def start(self):
        self.mta.start()
        self.milter = self.mta.milter(self.config, start=False)
        self.milter.env = dict(os.environ, SESMILTER_NOW=DAY1)
        if self.clock_file:
            self.milter.env["SESMILTER_CLOCK_FILE"] = str(self.clock_file)
        self.milter.start()
        return self

    def stop(self):
        self.mta.stop()

    def sesctl(self, *args, now=DAY1):
        cp = h._run([self.sesctl_bin, "-c", self.milter.config_path, "--now", now, *args, "--json"],
                    env=dict(os.environ, SESMILTER_NOW=now))
        return json.loads(cp.stdout) if cp.stdout.strip() else {}

    def held(self):
        return [q for q in self.mta.postfix.queue() if q.get("queue_name") == "hold"]

    def send(self, sender, tag):
        msg = h.make_message(sender, RCPT, tag, "x\n")
        return h.send(self.mta.port, sender, [RCPT], msg)[0]


@pytest.fixture
def fleet(request, e2e_root, sesmilter_bin, sesctl_bin, keys):
    d = e2e_root / request.node.name[:40]
    d.mkdir()
    d.chmod(0o755)
    redis = Redis(d / "redis").start()
    request.addfinalizer(redis.stop)
    hosts = []
    for i in range(3):
        host = Host(d / f"host{i}", sesmilter_bin, sesctl_bin, keys, redis)
        request.addfinalizer(host.stop)
        hosts.append(host.start())
    return redis, hosts


def send_parallel(hosts, sessions, per_session, sender, tag, during=None):
    """`sessions` client threads, session t on hosts[t % 3]; returns
    {host index: [(code or SMTPReplyError code)]}."""
    out = {i: [] for i in range(len(hosts))}
    errors = []
    lock = threading.Lock()

    def client(t):
        host = t % len(hosts)
        for i in range(per_session):
            try:
                c = hosts[host].send(sender, f"{tag} {t}-{i}")
            except h.SMTPReplyError as e:
                c = e.smtp_code
            except Exception as e:  # noqa: BLE001 -- reported below
                with lock:
                    errors.append(repr(e))
                continue
            with lock:
                out[host].append(c)

    ts = [threading.Thread(target=client, args=(t,)) for t in range(sessions)]
    for t in ts:
        t.start()
    if during:
        during()
    for t in ts:
        t.join()
    assert errors == []
    return out


def delivered(host, sender):
    return sum(1 for m in host.mta.sink.messages() if f"From: {sender}".encode() in m)


def test_three_hosts_share_one_quota_exactly_and_survive_a_redis_restart(fleet):
    redis, hosts = fleet
    # 20 sessions x 17 messages over three hosts, one recipient each: 340
    # against a limit of 300.
    codes = send_parallel(hosts, 20, 17, FROM, "fleet")
    assert all(c == 250 for cs in codes.values() for c in cs), (
        codes, [x.milter.log()[-1500:] for x in hosts])
    accepted = {i: len(cs) for i, cs in codes.items()}
    assert sum(accepted.values()) == 340
    h.wait_for(lambda: sum(x.mta.sink.count() for x in hosts) + sum(len(x.held()) for x in hosts) == 340, 90,
               what="340 messages delivered or held")
    for x in hosts:
        h.wait_for(lambda: len(x.mta.postfix.queue()) == len(x.held()), 30, what="only held mail left")
    sent = [x.mta.sink.count() for x in hosts]
    held = [len(x.held()) for x in hosts]
    assert sum(sent) == LIMIT, (sent, held)
    assert sum(held) == 340 - LIMIT, (sent, held)
    for i, x in enumerate(hosts):
        # Each host holds what it accepted over the quota, in its own queue,
        # and its own records know it.
        assert sent[i] + held[i] == accepted[i]
        q = x.sesctl("queue", "held")
        assert sorted(e["queue_id"] for e in q["held"]) == sorted(e["queue_id"] for e in x.held())
        assert x.milter.log().count("unreachable") == 0
    # `sesctl stats` on any host: the fleet's totals, not the host's.
    for x in hosts:
        t = x.sesctl("stats", "--from", "2030-01-07", "--to", "2030-01-07")["Total"]
        assert (t["RequestCount"], t["AcceptedCount"], t["HeldCount"]) == (340, 340, 340 - LIMIT), t

    # Redis killed while 6 sessions send for another identity (example.net):
    # every answer is 250 or 4xx, and every 250 is delivered.
    def kill_midway():
        h.wait_for(lambda: sum(delivered(x, FROM_NET) for x in hosts) >= 3, 60, what="first example.net deliveries")
        redis.kill9()

    codes = send_parallel(hosts, 6, 10, FROM_NET, "outage", during=kill_midway)
    flat = [c for cs in codes.values() for c in cs]
    assert all(c == 250 or 400 <= c < 500 for c in flat), flat
    assert any(400 <= c < 500 for c in flat), "the outage was never seen"
    ok = {i: sum(1 for c in cs if c == 250) for i, cs in codes.items()}
    for i, x in enumerate(hosts):
        h.wait_for(lambda: delivered(x, FROM_NET) == ok[i], 60, what=f"host {i}: every accepted message delivered")
        assert len(x.held()) == held[i]  # the outage held nothing more
    # Every host says so once (not once per message), with the cause.
    for x in hosts:
        try:
            x.send(FROM_NET, "while down")
            raise AssertionError("accepted while Redis is down")
        except h.SMTPReplyError as e:
            assert 400 <= e.smtp_code < 500, e
    for x in hosts:
        log = x.milter.log()
        assert log.count("store: Redis 127.0.0.1:") == 1, log[-3000:]
        assert "unreachable" in log

    # Redis back (same port, same AOF): mail flows again on every host.
    redis.start()
    for i, x in enumerate(hosts):
        def flows():
            try:
                return x.send(FROM_NET, "after restart") == 250
            except h.SMTPReplyError as e:
                assert 400 <= e.smtp_code < 500, e
                time.sleep(0.5)
                return False
        h.wait_for(flows, 30, interval=0.2, what=f"host {i} accepting again")
        h.wait_for(lambda: delivered(x, FROM_NET) == ok[i] + 1, 60, what=f"host {i}: delivered after the restart")
    # The day's 300 for example.com survived the restart (appendfsync
    # always): one more is held, not sent.
    assert hosts[0].send(FROM, "still full") == 250
    h.wait_for(lambda: len(hosts[0].held()) == held[0] + 1, 30, what="held after the restart")
    assert sum(x.mta.sink.count() for x in hosts) - sum(delivered(x, FROM_NET) for x in hosts) == LIMIT


def test_a_recipient_suppressed_through_one_host_is_dropped_by_the_others(fleet):
    redis, hosts = fleet
    gone = "gone@remote.test"
    added = hosts[0].sesctl("suppression", "add", gone)
    assert added["Added"]["Address"] == gone
    for i, x in enumerate(hosts[1:], 1):
        assert [e["Address"] for e in x.sesctl("suppression", "list")["Suppressed"]] == [gone]
        start = len(x.milter.log())
        msg = h.make_message(FROM, gone, f"suppressed {i}", "x\n")
        assert h.send(x.mta.port, FROM, [gone], msg)[0] == 250
        x.milter.wait_log(r"suppressed=gone@remote\.test\(manual\)", 20, start=start)
        assert x.send(FROM, f"control {i}") == 250
        x.mta.sink.wait_count(1, 30)
        assert all(b"suppressed" not in m for m in x.mta.sink.messages())
    # Removed through another host: mail flows to it again everywhere.
    assert hosts[2].sesctl("suppression", "remove", gone)["Removed"] == 1
    assert hosts[0].sesctl("suppression", "list")["Suppressed"] == []
    msg = h.make_message(FROM, gone, "welcome back", "x\n")
    assert h.send(hosts[1].mta.port, FROM, [gone], msg)[0] == 250
    h.wait_for(lambda: any(b"welcome back" in m for m in hosts[1].mta.sink.messages()), 30,
               what="delivery after the removal")
    # The fleet's statistics on the host that dropped nothing: 2 suppressed,
    # 2 controls and the welcome back.
    t = hosts[0].sesctl("stats", "--from", "2030-01-07", "--to", "2030-01-07")["Total"]
    assert (t["RequestCount"], t["DroppedCount"]) == (5, 2), t


def test_held_mail_is_released_oldest_first_across_the_hosts(request, e2e_root, sesmilter_bin, sesctl_bin, keys):
    d = e2e_root / request.node.name[:40]
    d.mkdir()
    d.chmod(0o755)
    redis = Redis(d / "redis").start()
    request.addfinalizer(redis.stop)
    clock = d / "clock"
    clock.write_text("2030-01-07T09:00:00Z\n")
    policy = 'ses.on("daily_limit", function(identity) return 1 end)\n'
    hosts = []
    for name in ("newer", "older"):
        host = Host(d / name, sesmilter_bin, sesctl_bin, keys, redis, policy=policy, clock_file=clock)
        request.addfinalizer(host.stop)
        hosts.append(host.start())
    newer, older = hosts

    def set_clock(t):
        clock.write_text(t + "\n")
        os.utime(clock)

    # Day 1: the quota is used; "older" holds at 10:00, "newer" at 10:05.
    assert newer.send(FROM, "first") == 250
    newer.mta.sink.wait_count(1, 30)
    set_clock("2030-01-07T10:00:00Z")
    assert older.send(FROM, "held first") == 250
    h.wait_for(lambda: len(older.held()) == 1, 30, what="held on the older host")
    set_clock("2030-01-07T10:05:00Z")
    assert newer.send(FROM, "held second") == 250
    h.wait_for(lambda: len(newer.held()) == 1, 30, what="held on the newer host")

    # Day 2, room for one, both due: the newer host's pass runs first and
    # releases nothing; the older host's releases its mail.
    r = newer.sesctl("queue", "release-due", now="2030-01-08T10:06:00Z")
    assert (r["released"], r["deferred"]) == (0, 1), r
    assert len(newer.held()) == 1
    r = older.sesctl("queue", "release-due", now="2030-01-08T10:07:00Z")
    assert (r["released"], r["deferred"]) == (1, 0), r
    older.mta.sink.wait_count(1, 30)
    assert any(b"held first" in m for m in older.mta.sink.messages())
    r = newer.sesctl("queue", "release-due", now="2030-01-08T10:08:00Z")
    assert r["released"] == 0, r

    # Day 3: the newer host's turn.
    r = newer.sesctl("queue", "release-due", now="2030-01-09T10:06:00Z")
    assert r["released"] == 1, r
    h.wait_for(lambda: any(b"held second" in m for m in newer.mta.sink.messages()), 30,
               what="the newer host's held mail delivered")
    assert newer.held() == [] and older.held() == []


def test_pause_through_one_host_holds_on_another_and_status_shows_the_fleet(fleet):
    redis, hosts = fleet
    for i, x in enumerate(hosts):
        assert x.send(FROM, f"before the pause {i}") == 250
        x.mta.sink.wait_count(1, 30)
    assert hosts[0].sesctl("warmup", "pause", "example.com")["paused"] is True
    # Host 2 never saw the pause command: the identity's switch is the fleet's.
    assert hosts[1].send(FROM, "while paused") == 250
    h.wait_for(lambda: len(hosts[1].held()) == 1, 30, what="held on host 2 while paused through host 1")
    assert hosts[1].mta.sink.count() == 1
    assert hosts[2].sesctl("warmup", "status", "example.com")["paused"] is True
    assert hosts[2].sesctl("warmup", "resume", "example.com")["paused"] is False
    assert hosts[1].send(FROM, "after the resume") == 250
    hosts[1].mta.sink.wait_count(2, 30)
    # Host 3 sent one of the fleet's four; its status shows the four.
    s = hosts[2].sesctl("warmup", "status", "example.com")
    assert (s["scope"], s["used"], s["remaining"], s["paused"]) == ("fleet", 4, LIMIT - 4, False), s
