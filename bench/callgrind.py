#!/usr/bin/python3
"""bench/callgrind.py -- sesmilter's instructions per message under the milter-alone load.

    /usr/bin/python3 bench/callgrind.py [--key ed25519|rsa] [--records on|off]
        [--messages 2000] [--binary build/sesmilter] [--out FILE]
        [--signer native|opendkim]

Runs the daemon under valgrind's callgrind with the benchmark's config,
sends it --messages messages with build/bench/milter_load (4 connections,
10 messages each) and prints the inclusive user-space instruction count per
message of the functions that make up a message's cost (libmilter's
dispatcher, the end of message, libopendkim's steps, the signature).
Instruction counts do not depend on the machine's load, so two builds
compare in one line each even while other work shares the cores, where
msg/s and CPU time vary by ±15 %. They leave out the kernel (the
protocol's reads, polls and wake-ups: see bench/profile.py), and valgrind
does not run OpenSSL's AVX-512 RSA code, so the RSA signature's count is
not that of a native run; the rest is.

Needs valgrind. Unix sockets only; every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))
import harness as h  # noqa: E402
import run as bench  # noqa: E402

# (label, regular expression on callgrind_annotate's function column)
ROWS = [
    ("libmilter dispatcher, all callbacks (mi_engine)", r"\?\?\?:mi_engine "),
    ("end of message (Session::eom)", r"Session::eom\(.*EditSink&\) \["),
    ("  signature (EVP_DigestSign)", r"\?\?\?:EVP_DigestSign "),
    ("  dkim_eom (signature included)", r"\?\?\?:dkim_eom "),
    ("  dkim_body (body canonicalisation, hash)", r"\?\?\?:dkim_body "),
    ("  dkim_eoh (header selection)", r"\?\?\?:dkim_eoh "),
    ("  dkim_header", r"\?\?\?:dkim_header "),
    ("  dkim_getsighdr_d (the header text)", r"\?\?\?:dkim_getsighdr_d "),
    ("  dkim_free", r"\?\?\?:dkim_free "),
    ("  allocation hooks, malloc/free included", r"hook_(malloc|free)\(.*\) \["),
    ("  native signer (NativeSigner::sign)", r"NativeSigner::sign\("),
    ("  body canonicalisation (BodyCanon::feed)", r"BodyCanon::feed\("),
    ("  body hash (EVP_DigestUpdate)", r"\?\?\?:EVP_DigestUpdate "),
    ("header callbacks", r"cb_header\(smfi_str\*, char\*, char\*\) \["),
    ("body callbacks", r"cb_body\(smfi_str\*, unsigned char\*, unsigned long\) \["),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key", choices=("ed25519", "rsa"), default="ed25519")
    ap.add_argument("--records", choices=("on", "off"), default="off")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--binary", default=str(h.DEFAULT_BINARY))
    ap.add_argument("--out", help="keep the callgrind output in this file")
    ap.add_argument("--signer", choices=("native", "opendkim"),
                    help="[dkim] signer (default: the binary's default; older builds know no such key)")
    args = ap.parse_args()
    root = h.make_root("sesmilter-callgrind")
    out = Path(args.out).resolve() if args.out else root / "callgrind.out"
    try:
        wrap = root / "valgrind-sesmilter"
        wrap.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out} "
                        f"{Path(args.binary).resolve()} \"$@\"\n")
        wrap.chmod(0o755)
        key = h.keygen_openssl(bench.DOMAIN, bench.SELECTOR, args.key, root / "keys")
        extra = "[records]\nenabled = false\n" if args.records == "off" else ""
        if args.signer:
            extra += f'\n[dkim]\nsigner = "{args.signer}"\n'

        m = bench.SesmilterProc(wrap, root / "daemon", args.key, key["key_file"], extra)
        m.m.start(timeout=120)
        r = bench.milter_load(h.BUILD / "bench" / "milter_load", m.spec, args.messages, 4, 10)
        m.stop()
        n = r["messages"]
        print(f"{Path(args.binary).name} {args.key} records {args.records} signer {args.signer or 'default'}: "
              f"{n} messages, "
              f"{r['errors']} errors, {r['signed']} signed; instructions per message (inclusive):")
        rep = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        for label, pat in ROWS:
            total = 0
            for ln in rep.splitlines():
                mm = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", ln)
                if mm and not mm.group(2).startswith("=>") and re.search(pat, mm.group(2)):
                    total += int(mm.group(1).replace(",", ""))
            print(f"  {label:50s} {total / n / 1000:9.1f}k")
        return 0 if r["errors"] == 0 else 1
    finally:
        h.stop_all()
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
