#!/usr/bin/python3
"""follower.py -- the delivery-status follower benchmark (#10), several runs.

Runs build/bench/follower_bench (make bench-bins first) RUNS times (default 3)
on a generated Postfix log of LINES lines (default 1 000 000) and prints the
median of each figure: wall and CPU lines/s of the real DeliveryTracker
(parse + LMDB) and of the read + parse reference of the same run.  The
machine may be shared: the CPU figures are the "one core" ones.

    /usr/bin/python3 bench/follower.py [--runs N] [--lines N]
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

BIN = Path(__file__).resolve().parent.parent / "build" / "bench" / "follower_bench"
ROW = re.compile(r"^(read \+ parse_log_line \(reference\)|DeliveryTracker \(parse \+ LMDB\))\s+(\d+)\s+(\d+)\s+([\d.]+)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lines", type=int, default=1000000)
    a = ap.parse_args()
    if not BIN.exists():
        sys.exit(f"{BIN} missing: run `make bench-bins` first")
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for i in range(a.runs):
        cp = subprocess.run([str(BIN), str(a.lines)], stdout=subprocess.PIPE, text=True)
        if cp.returncode != 0:
            sys.exit(f"run {i + 1} failed:\n{cp.stdout}")
        for line in cp.stdout.splitlines():
            if m := ROW.match(line):
                rows.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3)), float(m.group(4))))
    print(f"{a.lines} lines, median of {a.runs} runs")
    print(f"| step | wall lines/s | CPU lines/s | CPU µs/line |")
    print(f"| --- | ---: | ---: | ---: |")
    for name, vals in rows.items():
        w, c, u = (statistics.median(v[k] for v in vals) for k in range(3))
        print(f"| {name} | {w:,.0f} | {c:,.0f} | {u:.2f} |".replace(",", " "))
    cpu = statistics.median(v[1] for v in rows["DeliveryTracker (parse + LMDB)"])
    print(f"target >= 200 000 lines/s on one core (CPU): {'PASS' if cpu >= 200000 else 'MISS'}")
    return 0 if cpu >= 200000 else 1


if __name__ == "__main__":
    sys.exit(main())
