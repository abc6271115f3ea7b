#!/usr/bin/python3
"""demo.py -- one DKIM-signed message through a private Postfix (`make demo`).

Makes a temporary directory, generates an RSA key with `sesctl dkim keygen`,
starts smtp-sink (the next hop), a private Postfix on 127.0.0.1 and sesmilter,
sends tests/data/sample.eml, prints the delivered message and python3-dkim's
verdict, and stops everything again (also on error).

    /usr/bin/python3 examples/demo.py [--keep] [--message FILE]

Exit status: 0 when the delivered message carries a DKIM signature that
python3-dkim verifies, 1 otherwise.
"""

import argparse
import importlib.util
import shutil
import sys
import textwrap
import traceback
from email.utils import getaddresses
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("harness", REPO / "tests/e2e/harness.py")
h = importlib.util.module_from_spec(spec)
spec.loader.exec_module(h)

DOMAIN, SELECTOR = "example.com", "demo"


def step(text):
    print(f"==> {text}", flush=True)


def detail(text):
    print(textwrap.indent(text, "    "), flush=True)


def show_message(msg: bytes):
    text = msg.decode("utf-8", errors="replace").replace("\r\n", "\n")
    print("-" * 72)
    print(text.rstrip("\n"))
    print("-" * 72, flush=True)


def envelope_of(msg: bytes):
    hdrs = h.parse_headers(msg)
    frm = getaddresses([v for n, v in hdrs if n.lower() == "from"])
    to = getaddresses([v for n, v in hdrs if n.lower() in ("to", "cc")])
    return frm[0][1], [a for _, a in to]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--message", default=str(REPO / "tests/data/sample.eml"),
                    help="message to send (From: must be in example.com)")
    args = ap.parse_args()

    for b in (h.DEFAULT_BINARY, h.DEFAULT_SESCTL):
        if not b.exists():
            print(f"demo: {b} is missing; run `make` first", file=sys.stderr)
            return 1

    root = h.make_root("sesmilter-demo")
    sink = postfix = milter = None
    ok = False
    print(f"sesmilter demo -- work directory {root}\n")
    try:
        step(f"DKIM key: sesctl dkim keygen --domain {DOMAIN} --selector {SELECTOR} "
             f"--algorithm rsa --bits 2048")
        key = h.keygen(DOMAIN, SELECTOR, "rsa", root / "keys", bits=2048)
        txt = key["txt"]
        detail(f"key file  {key['key_file']}\n"
               f"DNS TXT   {key['dns_name']}\n"
               f"          \"{txt[:60]}...\" ({len(txt)} chars)")

        sink = h.Sink(root / "sink", h.free_port()).start()
        step(f"next hop: smtp-sink on 127.0.0.1:{sink.port} (pid {sink.pid})")

        sock = root / "milter.sock"
        postfix = h.Postfix(root / "postfix", h.free_port(), sink.port,
                            milter=f"unix:{sock}").start()
        step(f"Postfix on 127.0.0.1:{postfix.smtpd_port}, smtpd_milters = unix:{sock}")
        detail(f"config   {postfix.config_dir}/main.cf\n"
               f"maillog  {postfix.maillog_path}")

        config = h.sesmilter_config(f"unix:{sock}", {DOMAIN: [key]}, log_level="info")
        milter = h.Sesmilter(h.DEFAULT_BINARY, config, root / "sesmilter").start()
        step(f"sesmilter running (pid {milter.pid}), config {milter.config_path}")
        detail(config.strip())

        msg = Path(args.message).read_bytes()
        mail_from, rcpts = envelope_of(msg)
        step(f"sending {args.message} from <{mail_from}> to {rcpts}")
        code, reply = h.send(postfix.smtpd_port, mail_from, rcpts, msg)
        detail(f"Postfix answered: {code} {reply}")

        delivered = sink.wait_count(1, 30)[0]
        step("message as delivered to the next hop:")
        show_message(delivered)

        sigs = h.dkim_signatures(delivered)
        if not sigs:
            print("dkim verify (python3-dkim): FAIL (no DKIM-Signature header)")
            return 1
        uncovered = set()
        for sig in sigs:
            names = ":".join(n.strip() for n in sig.get("h", "").split(":"))  # h= may be folded
            print(f"  signed header fields (h=): {names}")
            signed = {n.strip().lower() for n in sig.get("h", "").split(":")}
            uncovered |= {"from", "to", "subject", "date", "message-id"} - signed
        results = h.dkim_verify_each(delivered, {key["dns_name"]: txt})
        for r in results:
            verdict = "pass" if r["ok"] else f"fail {r['error'] or ''}".rstrip()
            print(f"  signature d={r['d']} s={r['s']} a={r['a']}: {verdict}")
        ok = h.dkim_verify(delivered, {key["dns_name"]: txt}) and all(r["ok"] for r in results)
        print(f"dkim verify (python3-dkim): {'PASS' if ok else 'FAIL'}", flush=True)
        if uncovered:
            print(f"but the signature does not cover: {', '.join(sorted(uncovered))}")
            ok = False
        return 0 if ok else 1
    except Exception as e:
        sys.stdout.flush()
        print(f"\ndemo failed: {e}", file=sys.stderr)
        if not isinstance(e, (h.HarnessError, h.SMTPReplyError)):
            traceback.print_exc()
        for name, comp, text in (("sesmilter log", milter, milter and milter.log()),
                                 ("Postfix maillog", postfix, postfix and postfix.maillog)):
            if comp and text:
                print(f"--- {name} (last lines)", file=sys.stderr)
                print(h._tail(text, 20), file=sys.stderr)
        sys.stderr.flush()
        return 1
    finally:
        for comp in (milter, postfix, sink):
            if comp is not None:
                try:
                    comp.stop()
                except Exception as e:
                    print(f"demo: stopping {comp}: {e}", file=sys.stderr)
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"\nwork directory kept: {root}")
        print("stopped sesmilter, Postfix and smtp-sink.")


if __name__ == "__main__":
    sys.exit(main())
