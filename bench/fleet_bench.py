#!/usr/bin/python3
"""bench/fleet_bench.py -- fleet throughput: three MTAs sharing one Redis vs three on LMDB.

    /usr/bin/python3 bench/fleet_bench.py                      # 3 rounds of 3000 messages
    /usr/bin/python3 bench/fleet_bench.py --runs 1 --messages 300 --json /tmp/fleet.json
    /usr/bin/python3 bench/fleet_bench.py --appendfsync always --key ed25519

Issue #17, part 5: "fleet throughput vs three instances on LMDB in the same
run (target >= 0.9x)". Two fleets, each three private Postfix instances on
127.0.0.1 (distinct ports), each Postfix with its own sesmilter, all relaying
to one counting smtp-sink:

- lmdb:  `[store] backend = "lmdb"`, every sesmilter its own store;
- redis: `[store] backend = "redis"`, the three sharing one private
         redis-server on loopback (Debian's persistence defaults: RDB
         snapshots, no AOF; or AOF with --appendfsync everysec|always).

Same config otherwise: one signing identity (RSA-2048 or Ed25519), records
and suppression on (the defaults), warm-up on with a daily limit far above
the message count, so every message takes the quota decision (in the redis
fleet: the Lua script in Redis) and none is held.

Each round runs both fleets, one after the other (the order alternates by
round, so a trend in the machine's load does not favour one); in each,
smtp-source sends --messages split evenly over the three instances at once
(--sessions sessions each, 2 KB messages). msg/s = messages / seconds from
the first send until every Postfix has logged the last `status=sent` (the
sink accepted it). Also measured, from /proc: each sesmilter's CPU per
message and redis-server's CPU per message of the fleet.

Checked (a failure makes the exit status 1): before timing, every instance
relays 3 messages to a dumping sink and their DKIM signatures verify
(dkimpy); in every round every message is delivered (no deferral, bounce
or milter reject); in the redis fleet the shared quota counter of the
identity grows by exactly the messages sent (the decision really went
through Redis). Missing the 0.9x target only prints MISS.

Reuses bench/run.py (Postfix configs, maillog counting, signature check,
/proc CPU) and tests/e2e/harness.py. Root only; run with Debian's
/usr/bin/python3 (dkimpy). Every process is stopped by its PID, also on
SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import run as rb  # bench/run.py (this directory is sys.path[0])
from run import h  # tests/e2e/harness.py, as run.py imports it

TARGET_RATIO = 0.9
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_PREFIX = "ses:"  # [store] redis_prefix default
HOSTS = 3

# Debian 12's /etc/redis/redis.conf: `appendonly no`, no `save` line (so
# Redis's built-in snapshot points); --appendfsync turns AOF on.
PERSISTENCE = {
    "debian": ([], "Debian's defaults: RDB snapshots (save 3600 1 300 100 60 10000), no AOF"),
    "everysec": (["--appendonly", "yes", "--appendfsync", "everysec"], "AOF, appendfsync everysec"),
    "always": (["--appendonly", "yes", "--appendfsync", "always"], "AOF, appendfsync always"),
}


class RedisServer:
    """A private redis-server on 127.0.0.1 in its own directory, with a
    minimal RESP client for the checks (Debian's python3 has no redis module)."""

    def __init__(self, dir: Path, persistence: str):
        self.dir = dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = h.free_port()
        self.args = PERSISTENCE[persistence][0]
        self.proc = None
        self._sock = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"redis://{h.LOOPBACK}:{self.port}/0"

    def start(self) -> "RedisServer":
        cmd = [REDIS_SERVER, "--bind", h.LOOPBACK, "--port", str(self.port), "--dir", str(self.dir),
               "--daemonize", "no", "--loglevel", "warning",
               "--logfile", str(self.dir / "redis.log"), *self.args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        h.register(self)
        try:
            h.wait_port(self.port, 10)
        except h.HarnessError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._sock:
            self._sock.close()
            self._sock = None
        if self.proc is None:
            return
        rb.stop_process(self.proc)
        self.proc = None
        h.unregister(self)

    def command(self, *args: bytes | str):
        if self._sock is None:
            self._sock = socket.create_connection((h.LOOPBACK, self.port), timeout=10)
            self._rfile = self._sock.makefile("rb")
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        self._sock.sendall(b"*%d\r\n" % len(parts) +
                           b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _reply(self):
        line = self._rfile.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise h.HarnessError(f"redis: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._rfile.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise h.HarnessError(f"redis: unexpected reply {line!r}")

    def command_calls(self) -> dict[str, int]:
        """Calls per command so far (INFO commandstats)."""
        out = {}
        for line in self.command("INFO", "commandstats").decode().splitlines():
            if line.startswith("cmdstat_"):
                name, _, stats = line[len("cmdstat_"):].partition(":")
                out[name] = int(stats.split(",")[0].split("=")[1])
        return out

    def quota_total(self, domain: str) -> int:
        """The domain identity's shared quota counters summed over every day
        (a round may cross midnight). Key: PREFIX q:DAY: 'd' domain NUL."""
        suffix = b":d" + domain.encode() + b"\0"
        total, cursor = 0, b"0"
        while True:
            cursor, keys = self.command("SCAN", cursor, "MATCH", REDIS_PREFIX + "q:*", "COUNT", "1000")
            for k in keys:
                if k.endswith(suffix):
                    total += int(self.command("GET", k) or 0)
            if cursor == b"0":
                return total


class Fleet:
    """Three Postfix instances, each with its own sesmilter."""

    def __init__(self, name: str, root: Path, ses_bin: Path, key_file: str, sink_port: int,
                 script: Path, redis: RedisServer | None, redis_timeout_ms: int):
        self.name = name
        self.redis = redis
        self.milters, self.configs = [], []
        warmup = (f'[warmup]\nenabled = true\nrelease_scheduler = false\n\n'
                  f'[policy]\nscript = "{script}"\n')
        for i in range(HOSTS):
            wdir = root / f"{name}{i}"
            store = ""
            if redis:
                store = (f'[store]\npath = "{wdir / "store"}"\nbackend = "redis"\n'
                         f'redis_url = "{redis.url}"\nredis_timeout_ms = {redis_timeout_ms}\n\n')
            self.milters.append(rb.SesmilterProc(ses_bin, wdir, name, key_file, extra=store + warmup))
            self.configs.append(rb.PostfixConfig(f"{name}{i}", root, sink_port, self.milters[i]))

    def start(self) -> "Fleet":
        for m, c in zip(self.milters, self.configs):
            m.start()
            c.start()
        return self

    def stop(self) -> None:
        for c in self.configs:
            c.stop()
        for m in self.milters:
            m.stop()

    def send(self, total: int, sessions: int, timeout: float) -> dict:
        """smtp-source against the three instances at once, `total` split
        evenly; returns the round's figures once all are delivered."""
        per = [total // HOSTS + (1 if i < total % HOSTS else 0) for i in range(HOSTS)]
        counters = [c.counter for c in self.configs]
        base = [c.poll() for c in counters]
        bad0 = [(c.deferred, c.bounced, c.milter_rejects) for c in counters]
        quota0 = self.redis.quota_total(rb.DOMAIN) if self.redis else None
        cpu0 = [rb.cpu_seconds(m.pid) for m in self.milters]
        rcpu0 = rb.cpu_seconds(self.redis.pid) if self.redis else 0.0
        calls0 = self.redis.command_calls() if self.redis else {}
        t0 = time.monotonic()
        srcs = [subprocess.Popen(["smtp-source", "-s", str(sessions), "-m", str(n), "-l", "2000",
                                  "-f", rb.SENDER, "-t", rb.RCPT, "-M", "client.example.org",
                                  f"{h.LOOPBACK}:{c.pf.smtpd_port}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for c, n in zip(self.configs, per)]
        try:
            while any(c.poll() < b + n for c, b, n in zip(counters, base, per)):
                failed = [(i, s) for i, s in enumerate(srcs) if s.poll() not in (None, 0)]
                if failed or time.monotonic() > t0 + timeout:
                    what = (f"smtp-source to {self.name}{failed[0][0]} exited {failed[0][1].returncode}: "
                            f"{failed[0][1].stderr.read()[:300]}" if failed else f"timeout {timeout:.0f}s")
                    raise h.HarnessError(
                        f"{self.name}: {what}; delivered "
                        f"{[c.sent - b for c, b in zip(counters, base)]} of {per}\n" +
                        "\n".join(f"{c.name} maillog:\n{h.tail(c.pf.maillog, 8)}" for c in self.configs))
                time.sleep(0.02)
            secs = time.monotonic() - t0
        except BaseException:  # a failure, a timeout or SIGTERM: stop the clients now
            for s in srcs:
                if s.poll() is None:
                    s.kill()
                    s.wait()
            raise
        for s in srcs:
            try:
                s.wait(60)
            except subprocess.TimeoutExpired:
                s.kill()
                s.wait()
        cpu = [rb.cpu_seconds(m.pid) - c for m, c in zip(self.milters, cpu0)]
        out = {"seconds": secs, "msg_per_s": total / secs,
               "milter_cpu_us_per_msg": [1e6 * c / n for c, n in zip(cpu, per)]}
        for c, (d, b, r) in zip(counters, bad0):
            c.poll()
            if (c.deferred - d, c.bounced - b, c.milter_rejects - r) != (0, 0, 0):
                rb.problem(f"{c.name}: {c.deferred - d} deferred, {c.bounced - b} bounced, "
                           f"{c.milter_rejects - r} milter rejects in a timed round")
        for s, c in zip(srcs, self.configs):
            if s.returncode != 0:
                rb.problem(f"{c.name}: smtp-source exited {s.returncode}: {s.stderr.read()[:300]}")
        if self.redis:
            out["redis_cpu_us_per_msg"] = 1e6 * (rb.cpu_seconds(self.redis.pid) - rcpu0) / total
            # the commands each message costs (INFO is this script's own)
            calls = self.redis.command_calls()
            out["redis_calls_per_msg"] = {c: (n - calls0.get(c, 0)) / total for c, n in sorted(calls.items())
                                          if n > calls0.get(c, 0) and c != "info"}
            out["shared_counter_delta"] = self.redis.quota_total(rb.DOMAIN) - quota0
            if out["shared_counter_delta"] != total:
                rb.problem(f"{self.name}: the shared quota counter of {rb.DOMAIN} grew by "
                           f"{out['shared_counter_delta']}, not by the {total} messages sent")
        return out


def bench(args, root: Path, ses_bin: Path) -> dict:
    key = h.keygen_openssl(rb.DOMAIN, rb.SELECTOR, args.key, root / "keys")
    txt = {key["dns_name"]: key["txt"]}
    script = root / "unlimited.lua"
    script.write_text('ses.on("daily_limit", function(identity) return 1000000000 end)\n')
    sink = h.Sink(root / "sink", h.free_port(), dump=False).start()
    redis = RedisServer(root / "redis", args.appendfsync).start()
    fleets = [Fleet("lmdb", root, ses_bin, key["key_file"], sink.port, script, None, args.redis_timeout_ms),
              Fleet("redis", root, ses_bin, key["key_file"], sink.port, script, redis,
                    args.redis_timeout_ms)]
    rounds: dict[str, list[dict]] = {f.name: [] for f in fleets}
    try:
        for f in fleets:
            f.start()
            for c in f.configs:
                rb.check_postfix_signing(c, root, txt)
            f.send(args.warmup, args.sessions, 300)
        timeout = max(120.0, args.messages / 10)
        for rep in range(args.runs):
            for f in (fleets if rep % 2 == 0 else fleets[::-1]):
                try:
                    r = f.send(args.messages, args.sessions, timeout)
                except h.HarnessError as e:
                    rb.problem(str(e))
                    continue
                rounds[f.name].append(r)
                extra = (f"  redis {r['redis_cpu_us_per_msg']:.0f} us/msg, shared counter "
                         f"+{r['shared_counter_delta']}" if f.redis else "")
                rb.log(f"   {f.name:5} run {rep + 1}: {r['msg_per_s']:6.0f} msg/s ({args.messages} in "
                       f"{r['seconds']:.1f} s)  sesmilter "
                       f"{' '.join(f'{c:.0f}' for c in r['milter_cpu_us_per_msg'])} us/msg{extra}")
        return rounds
    finally:
        for f in fleets:
            f.stop()
        redis.stop()
        sink.stop()


def summarize(rounds: dict) -> dict:
    out = {}
    for name, rs in rounds.items():
        if not rs:
            continue
        out[name] = {
            "msg_per_s": statistics.median(r["msg_per_s"] for r in rs),
            "runs_msg_per_s": [r["msg_per_s"] for r in rs],
            # per host, the median over the rounds
            "milter_cpu_us_per_msg": [statistics.median(r["milter_cpu_us_per_msg"][i] for r in rs)
                                      for i in range(HOSTS)],
        }
        if "redis_cpu_us_per_msg" in rs[0]:
            out[name]["redis_cpu_us_per_msg"] = statistics.median(r["redis_cpu_us_per_msg"] for r in rs)
            out[name]["shared_counter_delta"] = [r["shared_counter_delta"] for r in rs]
            out[name]["redis_calls_per_msg"] = {
                c: statistics.median(r["redis_calls_per_msg"].get(c, 0.0) for r in rs)
                for c in sorted({c for r in rs for c in r["redis_calls_per_msg"]})}
    return out


def report(args, med: dict) -> bool | None:
    print()
    print(f"== Fleet throughput: {HOSTS} x (Postfix + sesmilter) -> one smtp-sink; smtp-source -s "
          f"{args.sessions} against each at once, {args.messages} messages in all, 2 KB, "
          f"{'RSA-2048' if args.key == 'rsa' else 'Ed25519'}; warm-up on, records and suppression on; "
          f"median of {args.runs} ==")
    print(f"   redis-server: {PERSISTENCE[args.appendfsync][1]}; redis_timeout_ms = {args.redis_timeout_ms}")
    print("   msg/s = messages / (first send .. last status=sent); cpu = utime+stime from /proc per message")
    print(f"{'fleet':7}{'msg/s':>8}{'runs':>22}{'sesmilter cpu us/msg (each)':>30}"
          f"{'redis cpu us/msg':>18}{'shared counter':>16}")
    for name in ("lmdb", "redis"):
        r = med.get(name)
        if not r:
            print(f"{name:7}{'failed':>8}")
            continue
        runs = " ".join(f"{x:.0f}" for x in r["runs_msg_per_s"])
        cpu = " ".join(f"{x:.0f}" for x in r["milter_cpu_us_per_msg"])
        rc = f"{r['redis_cpu_us_per_msg']:.0f}" if "redis_cpu_us_per_msg" in r else "-"
        sc = " ".join(f"+{x}" for x in r["shared_counter_delta"]) if "shared_counter_delta" in r else "-"
        print(f"{name:7}{r['msg_per_s']:8.0f}{runs:>22}{cpu:>30}{rc:>18}{sc:>16}")
    calls = med.get("redis", {}).get("redis_calls_per_msg")
    if calls:
        print(f"   redis commands per message (median): {sum(calls.values()):.1f} = " +
              ", ".join(f"{c} {n:.2f}" for c, n in calls.items()))
    if "lmdb" not in med or "redis" not in med:
        print(f"   ratio redis/lmdb: n/a (a fleet has no run)   target >= {TARGET_RATIO}   n/a")
        return None
    ratio = med["redis"]["msg_per_s"] / med["lmdb"]["msg_per_s"]
    ok = ratio >= TARGET_RATIO
    print(f"   ratio redis/lmdb msg/s {ratio:6.2f}x   target >= {TARGET_RATIO}   {'PASS' if ok else 'MISS'}")
    med["ratio"] = ratio
    return ok


def main() -> int:
    # SIGTERM raises SystemExit, so the finally blocks stop every process
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds (median reported; default 3)")
    ap.add_argument("--messages", type=int, default=3000,
                    help="messages per fleet and round, split evenly over the three (default 3000)")
    ap.add_argument("--sessions", type=int, default=10, help="smtp-source sessions per instance (default 10)")
    ap.add_argument("--warmup", type=int, default=150, help="untimed messages per fleet first (default 150)")
    ap.add_argument("--key", choices=("rsa", "ed25519"), default="rsa", help="signing key (default rsa: RSA-2048)")
    ap.add_argument("--appendfsync", choices=tuple(PERSISTENCE), default="debian",
                    help="redis-server persistence: debian (Debian's defaults: RDB snapshots, no AOF; "
                    "the default), everysec or always (AOF)")
    ap.add_argument("--redis-timeout-ms", type=int, default=3000,
                    help="[store] redis_timeout_ms of the redis fleet (default 3000, as tests/e2e/test_fleet.py: "
                    "the disk and two cores are shared by six Postfix queues)")
    ap.add_argument("--sesmilter", default=str(h.DEFAULT_BINARY), help="sesmilter binary")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.runs < 1 or args.messages < HOSTS or args.sessions < 1 or args.warmup < HOSTS:
        ap.error("--runs and --sessions must be >= 1, --messages and --warmup >= 3")
    if os.geteuid() != 0:
        print("bench/fleet_bench.py must run as root (private Postfix instances)", file=sys.stderr)
        return 2
    for tool in ("smtp-source", "smtp-sink", "postfix", "openssl", REDIS_SERVER):
        if not shutil.which(tool):
            print(f"{tool} not found: run `make deps`", file=sys.stderr)
            return 2
    ses_bin = Path(args.sesmilter)
    if not os.access(ses_bin, os.X_OK):
        print(f"{ses_bin} not built: `make`", file=sys.stderr)
        return 2

    root = h.make_root("sesmilter-fleet-bench")
    rb.log(f"work directory {root}; {os.cpu_count()} CPUs; {args.runs} round(s) of {args.messages} "
           f"messages per fleet")
    med: dict = {}
    verdict = None
    rounds: dict = {}
    try:
        rounds = bench(args, root, ses_bin)
        med = summarize(rounds)
        verdict = report(args, med)
    except h.HarnessError as e:
        rb.problem(f"benchmark aborted: {e}")
    finally:
        h.stop_all()
        if args.keep or rb.problems:
            rb.log(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print()
    if verdict is not None:
        print(f"target: redis/lmdb >= {TARGET_RATIO}x   {'PASS' if verdict else 'MISS'}")
    if rb.problems:
        print(f"problems ({len(rb.problems)}):")
        for p in rb.problems:
            print(f"   {p.splitlines()[0]}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "settings": {k: v for k, v in vars(args).items() if k not in ("json", "keep")},
            "persistence": PERSISTENCE[args.appendfsync][1],
            "rounds": rounds, "median": med, "target_ratio": TARGET_RATIO, "pass": verdict,
            "problems": rb.problems}, indent=1) + "\n")
    return 1 if rb.problems else 0


if __name__ == "__main__":
    sys.exit(main())
