#!/usr/bin/python3
"""bench/task_rate.py -- how fast a batch task submits, against smtp-source.

    /usr/bin/python3 bench/task_rate.py [--messages 1000]

One private Postfix relaying to smtp-sink, sesmilter (RSA-2048 key, records
on, a one-line text template) on a unix socket, in the same run:

  smtp-source  `smtp-source -s 1 -m N -l 300` (one session, as the task
               runner uses one connection): plain messages, signed
  task         a TaskType 1 task to a group of N recipients: one templated
               message each (rendered and signed by the milter)

Each is timed from its start until Postfix logged all N delivered to the sink; prints
msg/s of each and the ratio task/smtp-source (target >= 0.8).  Issue #13.
Uses tests/e2e/harness.py; root only, as the e2e tests.
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
import harness as h  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000)
    n = ap.parse_args().messages
    root = h.make_root("sesmilter-task-rate")
    sink = h.Sink(root / "sink", h.free_port(), dump=False)
    socket = root / "milter.sock"
    pf = h.Postfix(root / "postfix", h.free_port(), sink.port, milter=f"unix:{socket}")
    try:
        key = h.keygen("example.com", "s1", "rsa", root / "keys", bits=2048)
        extra = f"""
[records]
enabled = true

[send]
smtp = "{h.LOOPBACK}:{pf.smtpd_port}"

[tasks]
max_rows = {max(n, 100)}
"""
        m = h.Sesmilter(h.DEFAULT_BINARY, h.sesmilter_config(f"unix:{socket}", {"example.com": [key]},
                                                            log_level="info", extra=extra), root)
        ctl = lambda *a: h.sesctl("-c", str(m.config_path), *a)  # noqa: E731
        (root / "t.txt").write_text("Hello {{name}}, your code is {{code}}.\n")
        ctl("template", "put", "code", "--subject", "Code for {{name}}", "--text", str(root / "t.txt"))
        gid = json.loads(ctl("group", "create", "bench", "--json").stdout)["GroupId"]
        (root / "g.csv").write_text("email,name,code\n" + "".join(
            f"r{i:06d}@remote.test,Name {i},C{i}\n" for i in range(n)))
        ctl("group", "import", str(gid), str(root / "g.csv"))
        sink.start()
        pf.start()
        m.start()

        def sent():
            return pf.maillog.count(" status=sent ")

        t0 = time.monotonic()
        subprocess.run(["smtp-source", "-s", "1", "-m", str(n), "-l", "300", "-f", "news@example.com",
                        "-t", "rcpt@remote.test", f"{h.LOOPBACK}:{pf.smtpd_port}"], check=True)
        h.wait_for(lambda: sent() >= n, 600, interval=0.1, what="smtp-source messages")
        source = time.monotonic() - t0

        t0 = time.monotonic()
        ctl("task", "create", "--type", "1", "--from", "news@example.com", "--group", str(gid),
            "--template", "code")
        h.wait_for(lambda: sent() >= 2 * n, 600, interval=0.1, what="task messages")
        task = time.monotonic() - t0
        ratio = source / task
        print(f"smtp-source: {n} msgs in {source:.2f} s = {n / source:.0f} msg/s")
        print(f"task:        {n} msgs in {task:.2f} s = {n / task:.0f} msg/s (includes up to 1 s of poll)")
        print(f"task / smtp-source = {ratio:.2f} (target >= 0.8): {'ok' if ratio >= 0.8 else 'MISS'}")
        return 0
    finally:
        h.stop_all()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
