#!/usr/bin/python3
"""bench/run.py -- sesmilter against a do-nothing filter and OpenDKIM, alone and through Postfix.

    make bench                       # full run (about 5-8 minutes)
    make bench BENCH_ARGS=--quick    # about 1-2 minutes, fewer messages, 1 run
    /usr/bin/python3 bench/run.py --only milter --runs 5

(a) Milter alone: OpenDKIM and sesmilter each sign with the same RSA-2048 key,
    then the same Ed25519 key; build/bench/milter_load drives them over a unix
    socket with several connections. Each pair is measured twice: sharing both
    cores with the client, and with the milter pinned to core 0 (client on
    core 1), because the targets are per core:
        RSA-2048: sesmilter >= 3000 msg/s and >= 2x OpenDKIM
        Ed25519:  sesmilter >= 10000 msg/s
    Also shown: the milter's own CPU time per message (from /proc), which is
    the per-core cost independent of how busy the client and kernel are.

(b) Through Postfix: smtp-source -> private Postfix on loopback -> smtp-sink,
    with no milter, OpenDKIM (RSA-2048) and sesmilter (same key). msg/s is N
    divided by the time until Postfix has delivered all N to the sink
    (counted from "status=sent" in its maillog). Runs are interleaved and the
    median is reported. Target: sesmilter/OpenDKIM >= 1.3.

Every benchmark also runs build/bench/nullfilter, a libmilter filter that
does nothing and negotiates what sesmilter negotiates, under the same client
and placement in the same interleaved runs: the floor each milter row is
compared with (issue #16). `openssl speed` on the milter's core gives the
signature's own cost in the same run. #16 targets:
    milter alone, pinned, Ed25519: sesmilter >= 0.8x nullfilter msg/s
    milter alone, pinned, RSA-2048, signing alone (records off): CPU per
        message <= nullfilter's + the signature + 60 us
    through Postfix, RSA-2048, signing alone: >= 0.92x nullfilter msg/s and
        CPU per message <= nullfilter's + the signature + 150 us

(c) Memory: RSS of the null filter and sesmilter (Ed25519) idle, with 200
    connections held in mid-message, and its growth over 100 000 messages.

Before timing, each configuration signs a few messages that are checked with
dkimpy, and every milter_load run must report every message signed and no
errors; a broken run makes the exit status 1. Missing a performance target
does not (PASS/MISS is printed).

Uses tests/e2e/harness.py for Postfix, sesmilter and keys. Run with Debian's
/usr/bin/python3 (it has the dkim module). Root only (Postfix needs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness as h  # noqa: E402

DOMAIN = "example.com"
SELECTOR = "s1"
SENDER = "sender@example.com"
RCPT = "rcpt@example.net"
MESSAGE = HERE / "data" / "message.eml"

TARGET_RSA_MSGS = 3000
TARGET_RSA_RATIO = 2.0
TARGET_ED_MSGS = 10000
TARGET_WARMUP_RATIO = 0.95
TARGET_POSTFIX_RATIO = 1.3
TARGET_RECORDS_RATIO = 0.95
# issue #16: against the do-nothing filter (bench/nullfilter.cpp)
NULL_HEADER_OCTETS = 480  # about an RSA-2048 DKIM-Signature with its folds
TARGET_NULL_ED_RATIO = 0.8       # milter alone, pinned, Ed25519, msg/s
TARGET_RSA_SLACK_US = 60         # milter alone, pinned, RSA-2048, sign-only CPU above null + signature
TARGET_PF_NULL_RATIO = 0.92      # through Postfix, RSA-2048, sign-only msg/s
TARGET_PF_SLACK_US = 150         # through Postfix, sign-only CPU above null + signature

problems: list[str] = []


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def problem(msg: str) -> None:
    problems.append(msg)
    log(f"!! {msg}")


# --------------------------------------------------------------------------
# process CPU time and pinning

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pin(pid: int, cpus: str) -> None:
    """Set the CPU affinity of every thread of pid (taskset -a)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def all_cpus() -> str:
    return ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after timeout seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --------------------------------------------------------------------------
# milters

class OpenDKIM:
    """opendkim -f -x CONF on a unix socket, signing DOMAIN with one key."""

    def __init__(self, workdir: Path, name: str, key_file: str, algorithm: str):
        self.dir = workdir
        self.socket = workdir / f"{name}.sock"
        self.conf = workdir / f"{name}.conf"
        self.log_path = workdir / f"{name}.log"
        lines = [
            f"Socket local:{self.socket}",
            f"Domain {DOMAIN}",
            f"Selector {SELECTOR}",
            f"KeyFile {key_file}",
            "Mode s",
            "Syslog no",
            "UMask 000",                 # Postfix (user postfix) must connect
            "RequireSafeKeys false",     # the key lives under /tmp
            "Canonicalization relaxed/simple",
            "InternalHosts 127.0.0.0/8",  # sign what loopback clients send
        ]
        if algorithm == "ed25519":
            lines.append("SignatureAlgorithm ed25519-sha256")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def spec(self) -> str:
        return f"unix:{self.socket}"

    def start(self) -> "OpenDKIM":
        if self.socket.exists():
            self.socket.unlink()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["opendkim", "-f", "-x", str(self.conf)],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        h.register(self)
        try:
            h.wait_for(lambda: self.proc.poll() is not None or self.socket.exists(), 15,
                       what=f"opendkim socket {self.socket}")
        except h.HarnessError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.stop()
            raise h.HarnessError(f"opendkim exited with {rc}: {self.log_path.read_text()}")
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self._log.close()
        self.proc = None
        h.unregister(self)


class NullFilter:
    """build/bench/nullfilter: the do-nothing libmilter filter that negotiates
    what sesmilter negotiates; the floor every milter row is compared with."""

    def __init__(self, binary: Path, workdir: Path, name: str, header: int = 0):
        self.binary = binary
        self.header = header  # octets of the header it adds to each message (0: none)
        self.socket = workdir / f"{name}.sock"
        self.log_path = workdir / f"{name}.log"
        self.proc = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def spec(self) -> str:
        return f"unix:{self.socket}"

    def start(self) -> "NullFilter":
        if self.socket.exists():
            self.socket.unlink()
        self._log = open(self.log_path, "ab")
        args = [str(self.binary), self.spec] + (["--header", str(self.header)] if self.header else [])
        self.proc = subprocess.Popen(args, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        h.register(self)
        try:
            h.wait_for(lambda: self.proc.poll() is not None or self.socket.exists(), 15,
                       what=f"nullfilter socket {self.socket}")
        except h.HarnessError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.stop()
            raise h.HarnessError(f"nullfilter exited with {rc}: {self.log_path.read_text()}")
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self._log.close()
        self.proc = None
        h.unregister(self)


SIGNERS_NOT = ("nullfilter", "null+header")  # rows that sign nothing by design


def openssl_sign_us(cpus: str | None, seconds: int = 1) -> dict:
    """`openssl speed` for RSA-2048 and Ed25519 on the milter's core: the
    signature alone, in microseconds, as the bound the targets add up."""
    cmd = ["openssl", "speed", "-seconds", str(seconds), "rsa2048", "ed25519"]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                        timeout=120)
    out = {}
    m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)", cp.stdout, re.M)
    if m:
        out["rsa"] = 1e6 / float(m.group(1))
    m = re.search(r"\(Ed25519\)\s+\S+\s+\S+\s+([\d.]+)", cp.stdout, re.M)
    if m:
        out["ed25519"] = 1e6 / float(m.group(1))
    if len(out) != 2:
        problem(f"openssl speed: cannot read its output:\n{cp.stdout}")
    return out


class SesmilterProc:
    """harness.Sesmilter with the benchmark's config."""

    def __init__(self, binary: Path, workdir: Path, name: str, key_file: str, extra: str = ""):
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        self.socket = workdir / "sesmilter.sock"
        cfg = h.sesmilter_config(f"unix:{self.socket}", {DOMAIN: [(SELECTOR, key_file)]},
                                 log_level="warning", extra=extra)
        self.m = h.Sesmilter(binary, cfg, workdir)

    @property
    def pid(self) -> int:
        return self.m.pid

    @property
    def spec(self) -> str:
        return f"unix:{self.socket}"

    def start(self) -> "SesmilterProc":
        self.m.start()
        return self

    def stop(self) -> None:
        self.m.stop()


# --------------------------------------------------------------------------
# (a) milter alone

def milter_load(load_bin: Path, spec: str, messages: int, connections: int,
                per_session: int, warmup: int = 0, client_cpus: str | None = None,
                save_signed: Path | None = None, message: Path = MESSAGE,
                sender: str = SENDER, rcpt: str = RCPT, timeout: float = 600) -> dict:
    cmd = [str(load_bin), "--socket", spec, "--message", str(message),
           "--messages", str(messages), "--connections", str(connections),
           "--per-session", str(per_session), "--warmup", str(warmup),
           "--from", sender, "--rcpt", rcpt]
    if save_signed:
        cmd += ["--save-signed", str(save_signed)]
    if client_cpus:
        cmd = ["taskset", "-c", client_cpus] + cmd
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        timeout=timeout)
    try:
        res = json.loads(cp.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise h.HarnessError(f"milter_load printed no JSON (exit {cp.returncode}):\n"
                             f"{cp.stdout}\n{cp.stderr}")
    res["stderr"] = cp.stderr.strip()
    return res


FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field-name


def signature_problem(msg: bytes, txt: dict):
    """None if msg has a DKIM-Signature that dkimpy verifies and whose h=
    lists From and only well-formed header names; else what is wrong."""
    raw = [v for n, v in h.parse_headers(msg) if n.lower() == "dkim-signature"]
    if not raw:
        return "no DKIM-Signature"
    htag = re.search(r"(?:^|;)\s*h\s*=([^;]*)", raw[0])
    names = [n.strip() for n in htag.group(1).split(":")] if htag else []
    bad = [n for n in names if not FIELD_NAME.match(n)]
    if not names or bad:
        return f"malformed h= tag {htag.group(1) if htag else None!r}"
    if "from" not in (n.lower() for n in names):
        return f"h= does not list From: {names}"
    try:
        if not h.dkim_verify(msg, txt):
            return "does not verify (dkimpy)"
    except Exception as e:  # dkimpy raises on some malformed signatures
        return f"dkimpy error {e!r}"
    return None


def verify_signed(path: Path, txt: dict, who: str) -> bool:
    if not path.exists():
        problem(f"{who}: no signed message was saved")
        return False
    why = signature_problem(path.read_bytes(), txt)
    if why:
        problem(f"{who}: DKIM-Signature {why}: {path}")
    return why is None


def bench_milters(args, root: Path, keys: dict, load_bin: Path, ses_bin: Path | None,
                  base_bin: Path | None = None, null_bin: Path | None = None) -> dict:
    out = {}
    sig_runs = {"rsa": [], "ed25519": []}
    cpus = sorted(os.sched_getaffinity(0))
    can_pin = len(cpus) >= 2
    milter_cpu, client_cpu = str(cpus[0]), str(cpus[1] if can_pin else cpus[0])
    placements = [("shared", None)] + ([("pinned", milter_cpu)] if can_pin else [])
    for alg, label in (("rsa", "RSA-2048"), ("ed25519", "Ed25519")):
        key = keys[alg]
        txt = {key["dns_name"]: key["txt"]}
        milters = {}
        if null_bin:
            milters["nullfilter"] = NullFilter(null_bin, root, f"nullfilter-{alg}")
        milters["opendkim"] = OpenDKIM(root, f"opendkim-{alg}", key["key_file"], alg)
        if ses_bin:
            milters["sesmilter"] = SesmilterProc(ses_bin, root / f"sesmilter-{alg}", alg,
                                                 key["key_file"])
        if ses_bin:
            milters["records-off"] = SesmilterProc(ses_bin, root / f"records-off-{alg}", alg,
                                                   key["key_file"], extra="[records]\nenabled = false\n")
            # The same with libopendkim signing ([dkim] signer, #16): the
            # difference to records-off is the native signer's gain.
            milters["sign-opendkim"] = SesmilterProc(
                ses_bin, root / f"sign-opendkim-{alg}", alg, key["key_file"],
                extra='[records]\nenabled = false\n\n[dkim]\nsigner = "opendkim"\n')
        if base_bin:
            milters["baseline"] = SesmilterProc(base_bin, root / f"baseline-{alg}", alg,
                                                key["key_file"])
        started = {}
        for name, m in milters.items():
            try:
                started[name] = m.start()
            except h.HarnessError as e:
                problem(f"{name} ({label}) did not start: {e}")
        # correctness: a few messages, every one signed, one checked by dkimpy
        for name, m in started.items():
            saved = root / f"signed-{name}-{alg}.eml"
            r = milter_load(load_bin, m.spec, 20, 2, 5, save_signed=saved)
            if name in SIGNERS_NOT:
                if r["errors"] or r["signed"]:
                    problem(f"{name} ({label}) check: {r['signed']} signed, "
                            f"{r['errors']} errors: {r['stderr'][:500]}")
            elif r["errors"] or r["signed"] != r["messages"]:
                problem(f"{name} ({label}) check: {r['signed']}/{r['messages']} signed, "
                        f"{r['errors']} errors: {r['stderr'][:500]}")
            else:
                verify_signed(saved, txt, f"{name} ({label})")
        for place, pcpu in placements:
            runs = {name: [] for name in started}
            for name, m in started.items():
                pin(m.pid, pcpu or all_cpus())
                milter_load(load_bin, m.spec, args.warmup, args.connections,
                            args.per_session, client_cpus=client_cpu if pcpu else None)
                pin(m.pid, pcpu or all_cpus())  # threads made during warm-up
            for rep in range(args.runs):
                for name, m in started.items():
                    c0 = cpu_seconds(m.pid)
                    r = milter_load(load_bin, m.spec, args.messages, args.connections,
                                    args.per_session, client_cpus=client_cpu if pcpu else None)
                    r["milter_cpu_s"] = cpu_seconds(m.pid) - c0
                    r["milter_cpu_us_per_msg"] = 1e6 * r["milter_cpu_s"] / max(1, r["messages"])
                    want_signed = 0 if name in SIGNERS_NOT else r["messages"]
                    if r["errors"] or r["signed"] != want_signed:
                        problem(f"{name} {label} {place}: {r['errors']} errors, "
                                f"{r['signed']}/{r['messages']} signed: {r['stderr'][:300]}")
                    log(f"   {label:8} {place:6} {name:9} run {rep + 1}: "
                        f"{r['msg_per_s']:8.0f} msg/s  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  milter {r['milter_cpu_us_per_msg']:.0f} us/msg")
                    runs[name].append(r)
                if pcpu and alg == "rsa":
                    # the signature's own cost on the milter's core, between
                    # the rounds so that it sees the same machine
                    for a, us in openssl_sign_us(pcpu).items():
                        sig_runs[a].append(us)
            for name, rs in runs.items():
                med = sorted(rs, key=lambda r: r["msg_per_s"])[len(rs) // 2]
                out[(alg, place, name)] = {
                    "msg_per_s": med["msg_per_s"], "p50_ms": med["p50_ms"],
                    "p99_ms": med["p99_ms"],
                    "milter_cpu_us_per_msg": statistics.median(
                        r["milter_cpu_us_per_msg"] for r in rs),
                    "all_msg_per_s": [r["msg_per_s"] for r in rs],
                    "replies_per_msg": med.get("replies_per_msg", 0),
                    "filter_protocol": med.get("filter_protocol", ""),
                }
            if pcpu:
                for m in started.values():
                    pin(m.pid, all_cpus())
        for m in started.values():
            m.stop()
    if not sig_runs["rsa"]:  # nothing pinned: one measurement unpinned
        for a, us in openssl_sign_us(None).items():
            sig_runs[a].append(us)
    for a, us in sig_runs.items():
        if us:
            out[("sign", a, "openssl")] = {"sign_us": statistics.median(us), "all_sign_us": us}
    return out


def sign_only(res: dict, alg: str, place: str):
    """The row that does signing alone: records off (records, suppression and
    warm-up have their own budgets, #7-#9); sesmilter when it is missing."""
    return res.get((alg, place, "records-off")) or res.get((alg, place, "sesmilter"))


def report_milters(args, res: dict, have_ses: bool) -> list[tuple[str, bool | None]]:
    print()
    print(f"== (a) Milter alone: milter_load, {args.connections} connections, "
          f"{args.per_session} messages per connection, {args.messages} messages, "
          f"median of {args.runs} ==")
    print("   shared = milter and client share both cores; "
          "pinned = milter on core 0 only, client on core 1")
    print("   cpu us/msg = the milter's own CPU time per message (/proc); "
          "replies/msg = reply packets the client waited for")
    print("   nullfilter = a libmilter filter that does nothing, negotiating what "
          "sesmilter negotiates (the floor)")
    sig = {a: res[("sign", a, "openssl")]["sign_us"] for a in ("rsa", "ed25519")
           if ("sign", a, "openssl") in res}
    if sig:
        print(f"   openssl speed on the milter's core (median): RSA-2048 sign "
              f"{sig.get('rsa', 0):.0f} us, Ed25519 sign {sig.get('ed25519', 0):.1f} us")
    hdr = (f"{'key':9}{'placement':10}{'milter':12}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
           f"{'cpu us/msg':>12}{'msg/cpu-s':>11}{'replies/msg':>13}{'x null msg/s':>14}"
           f"{'cpu - null':>12}")
    print(hdr)
    for alg, label in (("rsa", "RSA-2048"), ("ed25519", "Ed25519")):
        for place in ("shared", "pinned"):
            n = res.get((alg, place, "nullfilter"))
            for name in ("nullfilter", "opendkim", "baseline", "sign-opendkim", "records-off", "sesmilter"):
                r = res.get((alg, place, name))
                if not r:
                    continue
                per_cpu = 1e6 / r["milter_cpu_us_per_msg"] if r["milter_cpu_us_per_msg"] else 0
                vs = (f"{r['msg_per_s'] / n['msg_per_s']:13.2f}x"
                      f"{r['milter_cpu_us_per_msg'] - n['milter_cpu_us_per_msg']:+12.0f}"
                      if n else "")
                print(f"{label:9}{place:10}{name:12}{r['msg_per_s']:9.0f}{r['p50_ms']:9.2f}"
                      f"{r['p99_ms']:9.2f}{r['milter_cpu_us_per_msg']:12.0f}{per_cpu:11.0f}"
                      f"{r['replies_per_msg']:13.1f}{vs}")
            o, s = res.get((alg, place, "opendkim")), res.get((alg, place, "sesmilter"))
            if o and s:
                print(f"{'':19}{'ratio sesmilter/OpenDKIM':28}{s['msg_per_s'] / o['msg_per_s']:6.2f}x"
                      f"   (CPU per message {o['milter_cpu_us_per_msg'] / s['milter_cpu_us_per_msg']:.2f}x less)")
            b = res.get((alg, place, "baseline"))
            r = res.get((alg, place, "records-off"))
            so = res.get((alg, place, "sign-opendkim"))
            if r and so:
                print(f"{'':19}{'native/opendkim signer':28}{r['msg_per_s'] / so['msg_per_s']:6.2f}x"
                      f"   ({r['milter_cpu_us_per_msg'] - so['milter_cpu_us_per_msg']:+.0f} us CPU per message)")
            if r and s:
                print(f"{'':19}{'ratio records on/off':28}{s['msg_per_s'] / r['msg_per_s']:6.2f}x"
                      f"   (+{s['milter_cpu_us_per_msg'] - r['milter_cpu_us_per_msg']:.0f} us CPU per message)")
            if b and r:
                print(f"{'':19}{'ratio records-off/baseline':28}{r['msg_per_s'] / b['msg_per_s']:6.2f}x"
                      f"   (CPU per message {r['milter_cpu_us_per_msg'] / b['milter_cpu_us_per_msg']:.2f}x "
                      f"of the baseline's)")
            if b and s:
                print(f"{'':19}{'ratio sesmilter/baseline':28}{s['msg_per_s'] / b['msg_per_s']:6.2f}x"
                      f"   (CPU per message {s['milter_cpu_us_per_msg'] / b['milter_cpu_us_per_msg']:.2f}x "
                      f"of the baseline's)")
            so = sign_only(res, alg, place)
            if n and so and alg in sig:
                extra = so["milter_cpu_us_per_msg"] - n["milter_cpu_us_per_msg"] - sig[alg]
                print(f"{'':19}{'sign-only cpu - null - signature':33}{extra:+6.0f} us per message")
    verdicts = []
    print()
    print("   Targets (milter pinned to one core):")
    place = "pinned" if ("rsa", "pinned", "opendkim") in res else "shared"

    def verdict(text, value, fmt, ok):
        print(f"   {text:58} {fmt.format(value) if value is not None else 'n/a':>10}   "
              f"{'PASS' if ok else ('MISS' if ok is not None else 'n/a')}")
        verdicts.append((text, ok))

    s_rsa, o_rsa = res.get(("rsa", place, "sesmilter")), res.get(("rsa", place, "opendkim"))
    s_ed = res.get(("ed25519", place, "sesmilter"))
    if not have_ses:
        print("   sesmilter not built: targets not evaluated")
        return verdicts
    verdict(f"RSA-2048 sesmilter >= {TARGET_RSA_MSGS} msg/s", s_rsa and s_rsa["msg_per_s"],
            "{:.0f}", s_rsa and s_rsa["msg_per_s"] >= TARGET_RSA_MSGS)
    ratio = s_rsa and o_rsa and s_rsa["msg_per_s"] / o_rsa["msg_per_s"]
    verdict(f"RSA-2048 sesmilter >= {TARGET_RSA_RATIO:g}x OpenDKIM", ratio, "{:.2f}x",
            ratio and ratio >= TARGET_RSA_RATIO)
    verdict(f"Ed25519 sesmilter >= {TARGET_ED_MSGS} msg/s", s_ed and s_ed["msg_per_s"],
            "{:.0f}", s_ed and s_ed["msg_per_s"] >= TARGET_ED_MSGS)
    # #16: against the do-nothing filter, in the same runs
    n_ed, n_rsa = res.get(("ed25519", place, "nullfilter")), res.get(("rsa", place, "nullfilter"))
    so_ed = sign_only(res, "ed25519", place)
    if n_ed and so_ed:
        r = so_ed["msg_per_s"] / n_ed["msg_per_s"]
        verdict(f"Ed25519 sign-only >= {TARGET_NULL_ED_RATIO:g}x nullfilter msg/s", r, "{:.2f}x",
                r >= TARGET_NULL_ED_RATIO)
    so = sign_only(res, "rsa", place)
    if n_rsa and so and "rsa" in sig:
        budget = n_rsa["milter_cpu_us_per_msg"] + sig["rsa"] + TARGET_RSA_SLACK_US
        verdict(f"RSA-2048 sign-only cpu <= null + signature + {TARGET_RSA_SLACK_US} us "
                f"({budget:.0f})", so["milter_cpu_us_per_msg"], "{:.0f} us",
                so["milter_cpu_us_per_msg"] <= budget)
    return verdicts


# --------------------------------------------------------------------------
# (b) through Postfix

class MaillogCounter:
    """Counts delivery results in a Postfix maillog, reading only new bytes."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.sent = self.deferred = self.bounced = self.milter_rejects = 0

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.sent
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if b" status=sent " in line:
                self.sent += 1
            elif b" status=deferred " in line:
                self.deferred += 1
            elif b" status=bounced " in line:
                self.bounced += 1
            elif b"milter-reject" in line:
                self.milter_rejects += 1
        return self.sent


class PostfixConfig:
    def __init__(self, name: str, root: Path, relay_port: int, milter=None):
        self.name = name
        self.milter = milter
        self.pf = h.Postfix(root / f"postfix-{name}", h.free_port(), relay_port,
                            milter=milter.spec if milter else None,
                            extra_main_cf={"smtpd_client_connection_count_limit": "0",
                                           "smtpd_client_connection_rate_limit": "0"})
        self.counter = MaillogCounter(self.pf.maillog_path)

    def start(self):
        self.pf.start()
        return self

    def stop(self):
        self.pf.stop()

    def source(self, n: int, sessions: int, timeout: float) -> float:
        """smtp-source N messages; seconds until all N are delivered."""
        base = self.counter.poll()
        d0, b0, r0 = self.counter.deferred, self.counter.bounced, self.counter.milter_rejects
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(n), "-l", "2000",
               "-f", SENDER, "-t", RCPT, "-M", "client.example.org",
               f"{h.LOOPBACK}:{self.pf.smtpd_port}"]
        t0 = time.monotonic()
        src = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = t0 + timeout
        while self.counter.poll() < base + n:
            if time.monotonic() > deadline:
                src.kill()
                src.wait()
                raise h.HarnessError(
                    f"{self.name}: {self.counter.sent - base}/{n} delivered after {timeout:.0f}s "
                    f"(deferred {self.counter.deferred - d0}, bounced {self.counter.bounced - b0}, "
                    f"milter rejects {self.counter.milter_rejects - r0})\n"
                    f"maillog:\n{h.tail(self.pf.maillog, 15)}")
            if src.poll() is not None and src.returncode != 0:
                err = src.stderr.read()
                raise h.HarnessError(f"{self.name}: smtp-source exited {src.returncode}: {err}\n"
                                     f"maillog:\n{h.tail(self.pf.maillog, 15)}")
            time.sleep(0.02)
        t1 = time.monotonic()
        src.wait(60)
        if src.returncode != 0:
            raise h.HarnessError(f"{self.name}: smtp-source exited {src.returncode}: "
                                 f"{src.stderr.read()}")
        return t1 - t0


def check_postfix_signing(cfg: PostfixConfig, root: Path, txt: dict) -> None:
    """Deliver 3 messages to a dumping sink and check their signatures."""
    sink = h.Sink(root / f"check-{cfg.name}", h.free_port()).start()
    try:
        relay = cfg.pf.settings["relayhost"]
        cfg.pf.postconf(relayhost=f"[{h.LOOPBACK}]:{sink.port}")
        cfg.pf.reload()
        time.sleep(0.5)
        subprocess.run(["smtp-source", "-s", "1", "-m", "3", "-l", "2000", "-f", SENDER,
                        "-t", RCPT, "-M", "client.example.org",
                        f"{h.LOOPBACK}:{cfg.pf.smtpd_port}"], check=True, timeout=60,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        msgs = sink.wait_count(3, 60)
        cfg.counter.poll()
        for msg in msgs:
            sigs = h.dkim_signatures(msg)
            if cfg.milter is None or cfg.name in SIGNERS_NOT:
                if sigs:
                    problem(f"postfix {cfg.name}: unexpected DKIM-Signature")
                continue
            why = "has %d signatures" % len(sigs) if len(sigs) != 1 else \
                signature_problem(msg, txt)
            if why:
                problem(f"postfix {cfg.name}: delivered message's DKIM-Signature {why}")
                break
        cfg.pf.postconf(relayhost=relay)
        cfg.pf.reload()
        time.sleep(0.5)
    finally:
        sink.stop()


def bench_postfix(args, root: Path, keys: dict, ses_bin: Path | None,
                  base_bin: Path | None = None, null_bin: Path | None = None) -> dict:
    key = keys["rsa"]
    txt = {key["dns_name"]: key["txt"]}
    # the next hop only counts (no file per message); deliveries are
    # counted from each Postfix's maillog
    sink = h.Sink(root / "sink", h.free_port(), dump=False).start()
    configs = [PostfixConfig("none", root, sink.port)]
    milters = []
    sign_us = []
    try:
        if null_bin:
            nf = NullFilter(null_bin, root, "pf-nullfilter").start()
            milters.append(nf)
            configs.append(PostfixConfig("nullfilter", root, sink.port, nf))
            # The same filter adding a header the size of an RSA-2048
            # DKIM-Signature: what the header edit itself costs Postfix.
            nh = NullFilter(null_bin, root, "pf-null-header", header=NULL_HEADER_OCTETS).start()
            milters.append(nh)
            configs.append(PostfixConfig("null+header", root, sink.port, nh))
        od = OpenDKIM(root, "pf-opendkim", key["key_file"], "rsa").start()
        milters.append(od)
        configs.append(PostfixConfig("opendkim", root, sink.port, od))
        if ses_bin:
            sm = SesmilterProc(ses_bin, root / "pf-sesmilter", "rsa", key["key_file"]).start()
            milters.append(sm)
            configs.append(PostfixConfig("sesmilter", root, sink.port, sm))
            # Delivery records off: the difference to the sesmilter row is the
            # cost of the record stage (an LMDB write per message).
            rdir = root / "pf-records-off"
            smr = SesmilterProc(ses_bin, rdir, "rsa", key["key_file"],
                                extra="[records]\nenabled = false\n").start()
            milters.append(smr)
            configs.append(PostfixConfig("records-off", root, sink.port, smr))
            if base_bin:
                bm = SesmilterProc(base_bin, root / "pf-baseline", "rsa", key["key_file"]).start()
                milters.append(bm)
                configs.append(PostfixConfig("baseline", root, sink.port, bm))
            # The same with warm-up on: every message takes the quota
            # decision (Lua policy, LMDB write transaction) but none is held,
            # so the two rows differ only by the decision's cost.
            wdir = root / "pf-sesmilter-warmup"
            wdir.mkdir(parents=True, exist_ok=True)
            script = wdir / "unlimited.lua"
            script.write_text('ses.on("daily_limit", function(identity) return 1000000000 end)\n')
            extra = (f'[warmup]\nenabled = true\nrelease_scheduler = false\n\n'
                     f'[policy]\nscript = "{script}"\n')
            smw = SesmilterProc(ses_bin, wdir, "rsa", key["key_file"], extra=extra).start()
            milters.append(smw)
            configs.append(PostfixConfig("warmup-on", root, sink.port, smw))
        for c in configs:
            c.start()
            check_postfix_signing(c, root, txt)
            c.source(args.pf_warmup, args.pf_sessions, 300)  # warm-up
        results = {c.name: [] for c in configs}
        cpu = {c.name: [] for c in configs}
        for rep in range(args.runs):
            for c in configs:
                c0 = cpu_seconds(c.milter.pid) if c.milter else 0.0
                try:
                    secs = c.source(args.pf_messages, args.pf_sessions,
                                    max(120.0, args.pf_messages / 20))
                except h.HarnessError as e:
                    problem(str(e))
                    continue
                rate = args.pf_messages / secs
                results[c.name].append(rate)
                if c.milter:
                    cpu[c.name].append(1e6 * (cpu_seconds(c.milter.pid) - c0) / args.pf_messages)
                log(f"   postfix {c.name:9} run {rep + 1}: {rate:7.0f} msg/s "
                    f"({args.pf_messages} in {secs:.1f} s)")
            sign_us.append(openssl_sign_us(None).get("rsa", 0.0))
        return {"rates": results, "milter_cpu_us_per_msg": cpu, "rsa_sign_us": sign_us}
    finally:
        for c in configs:
            c.stop()
        for m in milters:
            m.stop()
        sink.stop()


def report_postfix(args, res: dict) -> list[tuple[str, bool | None]]:
    rates, cpu = res["rates"], res["milter_cpu_us_per_msg"]
    print()
    print(f"== (b) Through Postfix: smtp-source -s {args.pf_sessions} -m {args.pf_messages} "
          f"-l 2000 -> Postfix -> smtp-sink, median of {args.runs} ==")
    print(f"{'milter':11}{'msg/s':>9}{'runs':>28}{'milter cpu us/msg':>20}")
    med = {}
    for name, rs in rates.items():
        if not rs:
            print(f"{name:11}{'failed':>9}")
            continue
        med[name] = statistics.median(rs)
        c = f"{statistics.median(cpu[name]):.0f}" if cpu.get(name) else "-"
        print(f"{name:11}{med[name]:9.0f}{' '.join(f'{r:.0f}' for r in rs):>28}{c:>20}")
    verdicts = []
    if "sesmilter" in med and "opendkim" in med:
        r = med["sesmilter"] / med["opendkim"]
        ok = r >= TARGET_POSTFIX_RATIO
        print(f"   ratio sesmilter/OpenDKIM   {r:6.2f}x   target >= {TARGET_POSTFIX_RATIO}   "
              f"{'PASS' if ok else 'MISS'}")
        verdicts.append((f"Postfix sesmilter/OpenDKIM >= {TARGET_POSTFIX_RATIO}", ok))
    if "sesmilter" in med and "none" in med:
        print(f"   ratio sesmilter/no milter  {med['sesmilter'] / med['none']:6.2f}x")
    if "nullfilter" in med and "none" in med:
        print(f"   ratio nullfilter/no milter {med['nullfilter'] / med['none']:6.2f}x")
    sig = statistics.median(res["rsa_sign_us"]) if res.get("rsa_sign_us") else None
    if sig:
        print(f"   openssl speed (median): RSA-2048 sign {sig:.0f} us")
    so = "records-off" if "records-off" in med else "sesmilter"
    if so in med and "nullfilter" in med:
        for name in ("null+header", "sesmilter", "records-off", "warmup-on", "opendkim"):
            if name in med:
                print(f"   ratio {name}/nullfilter{'':{max(0, 11 - len(name))}}"
                      f"{med[name] / med['nullfilter']:6.2f}x")
        r = med[so] / med["nullfilter"]
        ok = r >= TARGET_PF_NULL_RATIO
        print(f"   sign-only ({so}) / nullfilter {r:6.2f}x   target >= {TARGET_PF_NULL_RATIO}   "
              f"{'PASS' if ok else 'MISS'}")
        verdicts.append((f"Postfix RSA-2048 sign-only >= {TARGET_PF_NULL_RATIO}x nullfilter msg/s", ok))
        if "null+header" in med:
            print(f"   sign-only ({so}) / null+header {med[so] / med['null+header']:6.2f}x   "
                  f"(the same header edit, no signing work)")
        if cpu.get(so) and cpu.get("nullfilter") and sig:
            c_so, c_n = statistics.median(cpu[so]), statistics.median(cpu["nullfilter"])
            budget = c_n + sig + TARGET_PF_SLACK_US
            ok = c_so <= budget
            print(f"   sign-only cpu {c_so:.0f} us <= null {c_n:.0f} + signature {sig:.0f} + "
                  f"{TARGET_PF_SLACK_US} = {budget:.0f} us   {'PASS' if ok else 'MISS'}")
            verdicts.append((f"Postfix RSA-2048 sign-only cpu <= null + signature + "
                             f"{TARGET_PF_SLACK_US} us", ok))
    if "opendkim" in med and "none" in med:
        print(f"   ratio OpenDKIM/no milter   {med['opendkim'] / med['none']:6.2f}x")
    if "baseline" in med and "sesmilter" in med:
        print(f"   ratio sesmilter/baseline   {med['sesmilter'] / med['baseline']:6.2f}x")
    if "records-off" in med and "sesmilter" in med:
        r = med["sesmilter"] / med["records-off"]
        ok = r >= TARGET_RECORDS_RATIO
        print(f"   ratio records on/off       {r:6.2f}x   target >= {TARGET_RECORDS_RATIO}   "
              f"{'PASS' if ok else 'MISS'}")
        verdicts.append((f"Postfix records on/off >= {TARGET_RECORDS_RATIO}", ok))
    if "warmup-on" in med and "sesmilter" in med:
        r = med["warmup-on"] / med["sesmilter"]
        ok = r >= TARGET_WARMUP_RATIO
        print(f"   ratio warm-up on/off       {r:6.2f}x   target >= {TARGET_WARMUP_RATIO}   "
              f"{'PASS' if ok else 'MISS'}")
        verdicts.append((f"Postfix warm-up on/off >= {TARGET_WARMUP_RATIO}", ok))
    return verdicts


# --------------------------------------------------------------------------
# (c) memory

def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def bench_memory(args, root: Path, keys: dict, load_bin: Path, ses_bin: Path | None,
                 null_bin: Path | None) -> dict:
    """RSS of each filter: idle, with 200 connections held in mid-message
    (milter_load --pause-before-eom: every connection has sent its whole
    message but the end), and its growth over N messages after a warm-up."""
    key = keys["ed25519"]
    filters = {}
    if null_bin:
        filters["nullfilter"] = NullFilter(null_bin, root, "mem-nullfilter")
    if ses_bin:
        filters["sesmilter"] = SesmilterProc(ses_bin, root / "mem-sesmilter", "ed25519", key["key_file"])
    out = {}
    for name, m in filters.items():
        try:
            m.start()
        except h.HarnessError as e:
            problem(f"memory: {name} did not start: {e}")
            continue
        try:
            time.sleep(0.5)
            r = {"idle_kib": status_kib(m.pid, "VmRSS")}
            milter_load(load_bin, m.spec, 2000, args.connections, args.per_session)
            r["rest_kib"] = status_kib(m.pid, "VmRSS")
            mark = root / f"mem-{name}.held"
            n = args.mem_connections
            cmd = [str(load_bin), "--socket", m.spec, "--message", str(MESSAGE),
                   "--messages", str(n), "--connections", str(n), "--per-session", "1",
                   "--from", SENDER, "--rcpt", RCPT, "--pause-before-eom", "3000",
                   "--pause-mark", str(mark), "--timeout-ms", "60000"]
            load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                h.wait_for(lambda: mark.exists() or load.poll() is not None, 120,
                           what=f"{n} connections held in mid-message")
                time.sleep(0.5)
                r["mid_kib"] = status_kib(m.pid, "VmRSS")
                r["mid_threads"] = status_kib(m.pid, "Threads")
            finally:
                so, se = load.communicate(timeout=300)
            res = json.loads(so.strip().splitlines()[-1]) if so.strip() else {}
            want_signed = 0 if name in SIGNERS_NOT else n
            if res.get("errors", 1) or res.get("signed") != want_signed:
                problem(f"memory: {name}: {n} held connections: {res or se[:300]}")
            r["mid_peak_kib"] = status_kib(m.pid, "VmHWM")  # the peak so far: includes the N ends of message
            r["before_kib"] = status_kib(m.pid, "VmRSS")
            r["before_anon_kib"] = status_kib(m.pid, "RssAnon")
            res = milter_load(load_bin, m.spec, args.mem_messages, args.connections, args.per_session,
                              timeout=3600)
            if res["errors"] or res["signed"] != (0 if name in SIGNERS_NOT else res["messages"]):
                problem(f"memory: {name}: {res['errors']} errors over {res['messages']} messages")
            r["after_kib"] = status_kib(m.pid, "VmRSS")
            r["after_anon_kib"] = status_kib(m.pid, "RssAnon")
            r["peak_kib"] = status_kib(m.pid, "VmHWM")
            out[name] = r
            log(f"   memory {name}: {r}")
        finally:
            m.stop()
    return out


def report_memory(args, res: dict) -> None:
    print()
    print(f"== (c) Memory (RSS from /proc, Ed25519, default config): idle; with "
          f"{args.mem_connections} connections held in mid-message; growth over "
          f"{args.mem_messages} messages after 2000 of warm-up ==")
    print("   growth = RSS after - before; anon = the heap and stacks only (RssAnon): the rest is"
          " file pages, e.g. the LMDB map the records are written to")
    print(f"{'milter':12}{'idle MB':>9}{'rest MB':>9}{'mid MB':>9}{'KB/conn':>9}{'threads':>9}"
          f"{'before MB':>11}{'after MB':>10}{'growth KB':>11}{'B/msg':>7}{'anon KB':>9}"
          f"{'anon B/msg':>12}{'peak MB':>9}")
    print("   peak = VmHWM at the end; the peak right after the held connections finished is "
          "printed below the table")
    for name, r in res.items():
        growth = r["after_kib"] - r["before_kib"]
        anon = r["after_anon_kib"] - r["before_anon_kib"]
        per_conn = (r["mid_kib"] - r["rest_kib"]) / max(1, args.mem_connections)
        print(f"{name:12}{r['idle_kib'] / 1024:9.1f}{r['rest_kib'] / 1024:9.1f}{r['mid_kib'] / 1024:9.1f}"
              f"{per_conn:9.1f}{r['mid_threads']:9d}{r['before_kib'] / 1024:11.1f}"
              f"{r['after_kib'] / 1024:10.1f}{growth:11d}{1024 * growth / args.mem_messages:7.1f}"
              f"{anon:9d}{1024 * anon / args.mem_messages:12.1f}{r['peak_kib'] / 1024:9.1f}")
    for name, r in res.items():
        print(f"   {name}: peak after the {args.mem_connections} held connections finished "
              f"{r['mid_peak_kib'] / 1024:.1f} MB")


# --------------------------------------------------------------------------

def main() -> int:
    # SIGTERM raises SystemExit, so the finally blocks stop every process
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer messages, 1 run")
    ap.add_argument("--only", choices=("milter", "postfix", "memory"), help="run one benchmark")
    ap.add_argument("--runs", type=int, help="repetitions (median reported; default 3, quick 1)")
    ap.add_argument("--messages", type=int, help="milter_load messages per run (default 6000)")
    ap.add_argument("--warmup", type=int, help="milter_load warm-up messages (default 500)")
    ap.add_argument("--connections", type=int, default=16, help="milter_load connections (default 16)")
    ap.add_argument("--per-session", type=int, default=10,
                    help="messages per milter connection (default 10)")
    ap.add_argument("--pf-messages", type=int, help="smtp-source messages per run (default 5000)")
    ap.add_argument("--pf-warmup", type=int, help="smtp-source warm-up messages (default 200)")
    ap.add_argument("--pf-sessions", type=int, default=20, help="smtp-source sessions")
    ap.add_argument("--mem-connections", type=int, default=200,
                    help="connections held in mid-message for the memory row (default 200)")
    ap.add_argument("--mem-messages", type=int,
                    help="messages for the memory growth row (default 100000, quick 20000)")
    ap.add_argument("--sesmilter", default=str(h.DEFAULT_BINARY), help="sesmilter binary")
    ap.add_argument("--milter-load", default=str(h.BUILD / "bench" / "milter_load"),
                    help="milter_load binary")
    ap.add_argument("--nullfilter", default=str(h.BUILD / "bench" / "nullfilter"),
                    help="the do-nothing libmilter filter (the reference)")
    ap.add_argument("--baseline", help="another sesmilter binary (e.g. a build of an earlier "
                    "commit) measured in the same runs, with the ratio against it")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    q = args.quick
    args.runs = args.runs or (1 if q else 3)
    args.messages = args.messages or (1500 if q else 6000)
    args.warmup = args.warmup if args.warmup is not None else (200 if q else 500)
    args.pf_messages = args.pf_messages or (1000 if q else 5000)
    args.pf_warmup = args.pf_warmup if args.pf_warmup is not None else (100 if q else 200)
    args.mem_messages = args.mem_messages or (20000 if q else 100000)

    if os.geteuid() != 0:
        print("bench/run.py must run as root (private Postfix instances)", file=sys.stderr)
        return 2
    for tool in ("opendkim", "openssl", "taskset", "smtp-source", "smtp-sink", "postfix"):
        if not shutil.which(tool):
            print(f"{tool} not found: run `make deps`", file=sys.stderr)
            return 2
    load_bin = Path(args.milter_load)
    if not (args.only == "postfix" or os.access(load_bin, os.X_OK)):
        print(f"{load_bin} missing: `make bench-bins`", file=sys.stderr)
        return 2
    ses_bin = Path(args.sesmilter)
    if not os.access(ses_bin, os.X_OK):
        problem(f"{ses_bin} not built: measuring OpenDKIM only")
        ses_bin = None

    null_bin = Path(args.nullfilter)
    if not os.access(null_bin, os.X_OK):
        problem(f"{null_bin} not built (`make bench-bins`): no do-nothing reference")
        null_bin = None

    base_bin = Path(args.baseline) if args.baseline else None
    if base_bin and not os.access(base_bin, os.X_OK):
        print(f"--baseline {base_bin}: not an executable", file=sys.stderr)
        return 2

    root = h.make_root("sesmilter-bench")
    log(f"work directory {root}; {os.cpu_count()} CPUs; "
        f"{'quick' if q else 'full'} run, {args.runs} run(s) each")
    verdicts = []
    results: dict = {}
    try:
        keydir = root / "keys"
        keys = {alg: h.keygen_openssl(DOMAIN, SELECTOR, alg, keydir / alg)
                for alg in ("rsa", "ed25519")}
        if args.only in (None, "milter"):
            log("(a) milter alone ...")
            res = bench_milters(args, root, keys, load_bin, ses_bin, base_bin, null_bin)
            verdicts += report_milters(args, res, ses_bin is not None)
            results["milter"] = [{"key": k[0], "placement": k[1], "milter": k[2], **v}
                                 for k, v in res.items()]
        if args.only in (None, "postfix"):
            log("(b) through Postfix ...")
            res = bench_postfix(args, root, keys, ses_bin, base_bin, null_bin)
            verdicts += report_postfix(args, res)
            results["postfix"] = res
        if args.only in (None, "memory"):
            log("(c) memory ...")
            res = bench_memory(args, root, keys, load_bin, ses_bin, null_bin)
            report_memory(args, res)
            results["memory"] = res
    except h.HarnessError as e:
        problem(f"benchmark aborted: {e}")
    finally:
        h.stop_all()
        if args.keep or problems:
            log(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print()
    if verdicts:
        npass = sum(1 for _, ok in verdicts if ok)
        print(f"targets: {npass}/{len(verdicts)} PASS" +
              "".join(f"\n   MISS {t}" for t, ok in verdicts if not ok))
    if problems:
        print(f"problems ({len(problems)}):")
        for p in problems:
            print(f"   {p.splitlines()[0]}")
    if args.json:
        results["verdicts"] = [{"target": t, "pass": ok} for t, ok in verdicts]
        results["problems"] = problems
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
