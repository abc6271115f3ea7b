#!/usr/bin/python3
"""bench/profile.py -- where sesmilter's CPU goes under the milter-alone load.

    /usr/bin/python3 bench/profile.py [--key ed25519|rsa] [--records on|off]
        [--messages 20000] [--top 30] [--per-session 10] [--binary build/sesmilter|build/bench/nullfilter]

Starts build/sesmilter (or build/bench/nullfilter with --binary pointing at
it) with the benchmark's config, pins it to core 0 and build/bench/milter_load
to core 1 as bench/run.py does for its "pinned" rows, warms it up, then runs
`perf record` (software cpu-clock sampling, DWARF call graphs: the VM has no
hardware counters) on the daemon for one load run and prints the top entries
by self time and by inclusive time. Sampling counts only the daemon's own
CPU time, so other load on the machine slows the run but does not shift the
shares much.

Needs perf (Debian's linux-perf). Loopback/unix sockets only;
every process is stopped by its PID. The perf data is kept in the printed
work directory when --keep is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))
import harness as h  # noqa: E402
import run as bench  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key", choices=("ed25519", "rsa"), default="ed25519")
    ap.add_argument("--records", choices=("on", "off"), default="off")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--per-session", type=int, default=10,
                    help="messages per milter connection (1: as Postfix fed by smtp-source)")
    ap.add_argument("--binary", default=str(h.DEFAULT_BINARY))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    load_bin = h.BUILD / "bench" / "milter_load"
    root = h.make_root("sesmilter-profile")
    try:
        key = h.keygen_openssl(bench.DOMAIN, bench.SELECTOR, args.key, root / "keys")
        extra = "[records]\nenabled = false\n" if args.records == "off" else ""
        binary = Path(args.binary)
        if binary.name == "nullfilter":
            m = bench.NullFilter(binary, root, "nullfilter")
        else:
            m = bench.SesmilterProc(binary, root / "sesmilter", args.key, key["key_file"], extra)
        m.start()
        bench.pin(m.pid, "0")
        bench.milter_load(load_bin, m.spec, args.warmup, 16, args.per_session, client_cpus="1")
        bench.pin(m.pid, "0")
        data = root / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000",
                                 "--call-graph", "dwarf,16384", "-o", str(data),
                                 "-p", str(m.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        c0 = bench.cpu_seconds(m.pid)
        r = bench.milter_load(load_bin, m.spec, args.messages, 16, args.per_session, client_cpus="1")
        cpu = bench.cpu_seconds(m.pid) - c0
        perf.send_signal(2)
        perf.wait(120)
        print(f"{binary.name} {args.key} records {args.records}: {r['msg_per_s']:.0f} msg/s, "
              f"{1e6 * cpu / r['messages']:.0f} us CPU per message, {r['errors']} errors, "
              f"{r['signed']} signed")
        m.stop()
        for title, extra_args in (("self", ["--no-children"]), ("inclusive", ["--children"])):
            rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none",
                                  "--percent-limit", "0.5", "--sort", "dso,symbol"] + extra_args,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            lines = [" ".join(ln.split()).removesuffix(" - -") for ln in rep.stdout.splitlines()
                     if ln.strip() and not ln.startswith("#")]
            print(f"--- top {args.top} by {title} time ---")
            print("\n".join(lines[:args.top]))
            if title == "inclusive":
                own = [ln for ln in lines if f" {binary.name} " in ln]
                print(f"--- top {args.top} of {binary.name}'s own functions, inclusive ---")
                print("\n".join(own[:args.top]))
        return 0
    finally:
        h.stop_all()
        if args.keep:
            print(f"work directory kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
