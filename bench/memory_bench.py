#!/usr/bin/python3
"""Peak memory of sesmilter with many concurrent large messages.

    /usr/bin/python3 bench/memory_bench.py [--connections 200] [--size-mb 1]
                                           [--messages 400] [--keep]

Starts build/sesmilter twice with an Ed25519 key and drives it with
build/bench/milter_load (the MTA stand-in): N concurrent milter sessions,
each sending messages with a body of SIZE MB.  The first run keeps bodies in
memory (milter.spool_threshold = 1GB: how sesmilter worked before bodies
were spooled); the second uses the default threshold (64 KiB, the rest in
an unlinked file in milter.spool_directory).  For each it prints the
daemon's RSS at rest and its peak (VmHWM from /proc/PID/status), and the
ratio of the two peaks.  Target: peak <= 64 MB with 200 connections of 1 MB.
Every message must come back signed.  Needs root only for nothing: the
daemon runs as the calling user; loopback/unix sockets only; every process
is stopped by its PID."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness as h  # noqa: E402

TARGET_MB = 64


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def make_message(path: Path, size_mb: float) -> None:
    head = (b"From: Sender Example <sender@example.com>\r\n"
            b"To: Recipient <rcpt@example.net>\r\n"
            b"Subject: memory benchmark\r\n"
            b"Date: Tue, 14 May 2024 10:21:07 +0000\r\n"
            b"Message-ID: <memory-bench@example.com>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    line = b"The quarterly figures show steady growth in all regions while costs stay.\r\n"
    n = int(size_mb * 1_000_000) // len(line)
    path.write_bytes(head + line * n)


def run(root: Path, name: str, key: dict, message: Path, args, threshold: str | None) -> dict:
    work = root / name
    work.mkdir()
    work.chmod(0o755)
    sock = work / "sesmilter.sock"
    cfg = h.sesmilter_config(f"unix:{sock}", {"example.com": [key]}, log_level="warning",
                             socket_owner="")
    spool = work / "spool"
    spool.mkdir()
    lines = [f'spool_directory = "{spool}"']
    if threshold:
        lines.append(f'spool_threshold = "{threshold}"')
    cfg = cfg.replace("[milter]\n", "[milter]\n" + "\n".join(lines) + "\n", 1)
    m = h.Sesmilter(REPO / "build" / "sesmilter", cfg, work)
    m.start()
    try:
        rest = status_kib(m.pid, "VmRSS")
        cmd = [str(REPO / "build" / "bench" / "milter_load"), "--socket", f"unix:{sock}",
               "--message", str(message), "--messages", str(args.messages),
               "--connections", str(args.connections), "--per-session", "1",
               "--from", "sender@example.com", "--rcpt", "rcpt@example.net",
               "--timeout-ms", "120000"]
        cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=1800)
        try:
            res = json.loads(cp.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise SystemExit(f"milter_load printed no JSON (exit {cp.returncode}):\n"
                             f"{cp.stdout}\n{cp.stderr}")
        peak = status_kib(m.pid, "VmHWM")
    finally:
        m.stop()
    return {"rest_kib": rest, "peak_kib": peak, "load": res}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--size-mb", type=float, default=1.0)
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    for b in ("sesmilter", "sesctl", "bench/milter_load"):
        if not (REPO / "build" / b).exists():
            raise SystemExit(f"build/{b} missing: make all build/bench/milter_load")
    root = Path(tempfile.mkdtemp(prefix="ses-membench-"))
    root.chmod(0o755)
    try:
        key = h.keygen("example.com", "e1", "ed25519", root / "keys",
                       binary=REPO / "build" / "sesctl")
        message = root / "message.eml"
        make_message(message, args.size_mb)
        print(f"{args.connections} connections, {args.messages} messages of "
              f"{message.stat().st_size / 1e6:.2f} MB, Ed25519")
        results = {}
        for name, threshold in (("in-memory", "1GB"), ("spooled", None)):
            r = run(root, name, key, message, args, threshold)
            load = r["load"]
            ok = load.get("errors", 1) == 0 and load.get("signed") == args.messages
            results[name] = r
            print(f"  {name:10} RSS at rest {r['rest_kib'] / 1024:7.1f} MB   peak (VmHWM) "
                  f"{r['peak_kib'] / 1024:7.1f} MB   {load.get('msg_per_s', 0):.0f} msg/s   "
                  f"signed {load.get('signed')}/{args.messages}, errors {load.get('errors')}"
                  f"{'' if ok else '   <-- NOT ALL SIGNED'}")
            if not ok:
                print(json.dumps(load, indent=1))
        a, b = results["in-memory"]["peak_kib"], results["spooled"]["peak_kib"]
        print(f"  peak ratio spooled/in-memory {b / a:.3f}")
        verdict = b / 1024 <= TARGET_MB
        print(f"  {'PASS' if verdict else 'MISS'}: spooled peak {b / 1024:.1f} MB "
              f"(target <= {TARGET_MB} MB)")
        return 0 if verdict else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
