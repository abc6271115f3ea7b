#!/usr/bin/python3
"""bench/tracking_bench.py -- the cost of open/click tracking: in the milter and at the HTTP endpoint.

    /usr/bin/python3 bench/tracking_bench.py [--only milter|http] [--runs 5] [--json FILE]

(a) milter: one sesmilter (RSA-2048, delivery records on) with two sending
identities, example.com with track_opens, track_clicks and unsubscribe on and
example.org with none of them, is driven by build/bench/milter_load with the
rendered 20 KB newsletter of bench/template_bench.py (14 http(s) links), From:
one identity then the other, alternately in the same run:

  tracked     HTML scan + link tokens and their LMDB rows + pixel + MIME
              rebuild + List-Unsubscribe + DKIM sign
  sign-only   the same message from the untracked identity: DKIM sign only

Reported: msg/s, p50 and the milter's own CPU per message, medians of the
runs, and tracked/sign-only throughput (target >= 0.7).

(b) http: sesmilter with [http] listen and a tracked identity; one message
through the milter gives real tokens (milter_load --save-signed writes the
rewritten body). Then `wrk` (Debian package wrk) runs against, interleaved:

  404         GET /nothing: no route, no store (the HTTP floor)
  forged      GET /o/ with one character of the token altered: token check, 404
  open        GET /o/TOKEN: the pixel; an open event and counters, one LMDB write transaction
  click       GET /c/TOKEN: a click event, the link lookup, 302

sesmilter pinned to one core and wrk to the other (`taskset`): req/s, p50/p99
latency and the daemon's CPU per request; target open and click >= 5000/s.

Before timing, every tracked message must log `tracking=links:` and no
sign-only message may; the open and click answers must be 200 image/gif and
302 to the original URL. A broken run exits 1; a missed target prints MISS.
Root only (uses tests/e2e/harness.py, as the e2e tests do).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness as h  # noqa: E402

sys.path.insert(0, str(HERE))
from run import cpu_seconds, log, pin  # noqa: E402
from run import milter_load as run_milter_load  # noqa: E402
import template_bench as tb  # noqa: E402

TRACKED = "example.com"
PLAIN = "example.org"
RCPT = "rcpt@example.net"
MILTER_TARGET = 0.7
HTTP_TARGET = 5000.0
TRACKING_KEYS = '[tracking]\nkeys = ["1:bench-tracking-secret-0123456789"]\n'
TOKEN = r"[A-Za-z0-9_-]{40}"


def identity_config(sock: Path, key: dict, level: str, extra: str) -> str:
    cfg = h.sesmilter_config(f"unix:{sock}", {TRACKED: [key], PLAIN: [key]}, log_level=level,
                             extra=extra)
    return cfg.replace(f'name = "{TRACKED}"',
                       f'name = "{TRACKED}"\ntrack_opens = true\ntrack_clicks = true\nunsubscribe = true')


def rendered_newsletter(root: Path, key: dict) -> bytes:
    """The newsletter as `sesctl template render` makes it (CRLF)."""
    cfg = root / "ctl.toml"
    cfg.write_text(h.sesmilter_config(f"unix:{root / 'ctl.sock'}", {TRACKED: [key]},
                                      extra=f'[store]\npath = "{root / "ctl-store"}"\n'))
    ctl = lambda *a: h.sesctl("-c", str(cfg), *a)  # noqa: E731
    (root / "t.html").write_text(tb.newsletter_html())
    (root / "t.txt").write_text(tb.newsletter_text())
    ctl("template", "put", tb.TEMPLATE, "--subject", "{{brand}}: {{headline}}, {{name}}",
        "--html", str(root / "t.html"), "--text", str(root / "t.txt"))
    out = ctl("template", "render", tb.TEMPLATE, "--data", json.dumps(tb.newsletter_data()),
              "--from", f"sender@{TRACKED}", "--to", RCPT).stdout.encode()
    out = out.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return out.replace(b"\r\n\r\n", b"\r\nMessage-ID: <bench-tracking@example.com>\r\n\r\n", 1)


def soft_decoded(msg: bytes) -> str:
    """Enough quoted-printable decoding to find URLs (soft breaks, =3D)."""
    return msg.decode("utf-8", "replace").replace("=\r\n", "").replace("=3D", "=")


def message_from(msg: bytes, domain: str) -> bytes:
    head, body = msg.split(b"\r\n\r\n", 1)
    head = re.sub(rb"(?im)^From:[^\r\n]*", f"From: sender@{domain}".encode(), head, count=1)
    return head + b"\r\n\r\n" + body


def load(args, sock: Path, msg: Path, domain: str, messages: int, client=None, save=None) -> dict:
    return run_milter_load(Path(args.milter_load), f"unix:{sock}", messages, args.connections,
                           args.per_session, client_cpus=client, save_signed=save, message=msg,
                           sender=f"sender@{domain}", rcpt=RCPT, timeout=900)


def placement():
    cpus = sorted(os.sched_getaffinity(0))
    return (str(cpus[0]), str(cpus[1])) if len(cpus) >= 2 else (None, None)


# --------------------------------------------------------------------------
# (a) the milter

def bench_milter(args, root: Path, key: dict, problems: list[str]) -> dict:
    news = rendered_newsletter(root, key)
    paths = {}
    for kind, dom in (("tracked", TRACKED), ("sign-only", PLAIN)):
        paths[kind] = root / f"{kind}.eml"
        paths[kind].write_bytes(message_from(news, dom))
    html = len(tb.newsletter_html().encode())
    links = len(re.findall(r'href="https?://', soft_decoded(news)))
    log(f"newsletter: {len(news)} bytes, {links} http(s) links")
    sock = root / "milter.sock"
    extra = TRACKING_KEYS + '[http]\npublic_url = "https://t.example.com/"\n'

    m = h.Sesmilter(args.sesmilter, identity_config(sock, key, "info", extra), root / "check")
    m.start()
    try:
        for kind, dom in (("tracked", TRACKED), ("sign-only", PLAIN)):
            r = load(args, sock, paths[kind], dom, 20)
            if r["errors"] or r["signed"] != r["messages"]:
                problems.append(f"check {kind}: {r['signed']}/{r['messages']} signed, "
                                f"{r['errors']} errors: {r['stderr'][:300]}")
        n = len(re.findall(r"tracking=links:\d+,pixel", m.log()))
        if n != 20:
            problems.append(f"check: {n}/20 messages logged tracking=links:N,pixel "
                            f"(20 tracked and 20 sign-only sent):\n{h._tail(m.log(), 10)}")
    finally:
        m.stop()

    m = h.Sesmilter(args.sesmilter, identity_config(sock, key, "warning", extra), root / "timed")
    m.start()
    milter_cpu, client = placement()
    results = {"sign-only": [], "tracked": []}
    try:
        if milter_cpu:
            pin(m.pid, milter_cpu)
        for kind, dom in (("tracked", TRACKED), ("sign-only", PLAIN)):
            load(args, sock, paths[kind], dom, args.warmup, client)
        if milter_cpu:
            pin(m.pid, milter_cpu)  # threads made during warm-up
        for rep in range(args.runs):
            for kind, dom in (("sign-only", PLAIN), ("tracked", TRACKED)):
                c0 = cpu_seconds(m.pid)
                r = load(args, sock, paths[kind], dom, args.messages, client)
                r["cpu_us_per_msg"] = 1e6 * (cpu_seconds(m.pid) - c0) / max(1, r["messages"])
                if r["errors"] or r["signed"] != r["messages"]:
                    problems.append(f"{kind} run {rep + 1}: {r['signed']}/{r['messages']} signed, "
                                    f"{r['errors']} errors: {r['stderr'][:300]}")
                log(f"   run {rep + 1} {kind:9}: {r['msg_per_s']:7.0f} msg/s  "
                    f"p50 {r['p50_ms']:.2f} ms  milter {r['cpu_us_per_msg']:.0f} us/msg")
                results[kind].append(r)
    finally:
        m.stop()

    med = {k: {"msg_per_s": statistics.median(r["msg_per_s"] for r in rs),
               "cpu_us_per_msg": statistics.median(r["cpu_us_per_msg"] for r in rs),
               "p50_ms": statistics.median(r["p50_ms"] for r in rs)}
           for k, rs in results.items() if rs}
    ratio = med["tracked"]["msg_per_s"] / med["sign-only"]["msg_per_s"] if len(med) == 2 else 0.0
    print()
    print(f"== Tracking in the milter: {len(news)} B newsletter ({html} B HTML template, {links} links), "
          f"RSA-2048, records on, {args.messages} messages x {args.runs} runs (median), "
          f"{'milter pinned to one core' if milter_cpu else 'shared cores'} ==")
    print(f"   {'':10} {'msg/s':>8} {'p50 ms':>8} {'milter us/msg':>14}")
    for k in ("sign-only", "tracked"):
        if k in med:
            print(f"   {k:10} {med[k]['msg_per_s']:8.0f} {med[k]['p50_ms']:8.2f} "
                  f"{med[k]['cpu_us_per_msg']:14.0f}")
    verdict = "PASS" if ratio >= MILTER_TARGET else "MISS"
    print(f"   tracked / sign-only throughput: {ratio:.2f} (target >= {MILTER_TARGET}) {verdict}")
    return {"results": med, "ratio": ratio, "target": MILTER_TARGET, "pass": ratio >= MILTER_TARGET}


# --------------------------------------------------------------------------
# (b) the HTTP endpoint

def http_get(port: int, path: str):
    c = http.client.HTTPConnection(h.LOOPBACK, port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def wait_port(port: int, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            http_get(port, "/nothing")
            return
        except OSError:
            time.sleep(0.1)
    raise h.HarnessError(f"HTTP endpoint on port {port} did not answer")


def wrk_seconds(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


def run_wrk(args, url: str, cpu: str | None) -> dict:
    cmd = [args.wrk, "-t1", f"-c{args.http_connections}", f"-d{args.seconds}s", "--latency", url]
    if cpu:
        cmd = ["taskset", "-c", cpu] + cmd
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=args.seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise h.HarnessError(f"wrk printed no figures:\n{out}")
    lat = {p: wrk_seconds(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"req_per_s": float(rps.group(1)), "requests": int(total.group(1)),
            "p50_ms": 1e3 * lat.get("50", float("nan")), "p99_ms": 1e3 * lat.get("99", float("nan")),
            "non_2xx_3xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0}


def bench_http(args, root: Path, key: dict, problems: list[str]) -> dict:
    news = rendered_newsletter(root, key)
    msg = root / "http-tracked.eml"
    msg.write_bytes(news)
    sock = root / "http-milter.sock"
    port = h.free_port()
    extra = (TRACKING_KEYS + f'[http]\nlisten = ["{h.LOOPBACK}:{port}"]\n'
             f'public_url = "http://{h.LOOPBACK}:{port}"\nthreads = {args.threads}\n')
    m = h.Sesmilter(args.sesmilter, identity_config(sock, key, "warning", extra), root / "http")
    m.start()
    srv_cpu, client = placement()
    rows = ("404", "forged", "open", "click")
    results: dict[str, list] = {k: [] for k in rows}
    try:
        wait_port(port)
        signed = root / "http-signed.eml"
        r = load(args, sock, msg, TRACKED, 1, save=signed)
        if r["errors"] or r["signed"] != 1 or not signed.exists():
            raise h.HarnessError(f"the tracked message was not signed: {r}")
        body = soft_decoded(signed.read_bytes())
        opens = re.findall(rf"/o/({TOKEN})", body)
        clicks = re.findall(rf"/c/({TOKEN})", body)
        if not opens or not clicks:
            raise h.HarnessError(f"no /o/ or /c/ token in the rewritten message:\n{body[:2000]}")
        tok_o, tok_c = opens[0], clicks[0]
        forged = tok_o[:-1] + ("A" if tok_o[-1] != "A" else "B")
        paths = {"404": "/nothing", "forged": f"/o/{forged}", "open": f"/o/{tok_o}", "click": f"/c/{tok_c}"}
        want = {"404": 404, "forged": 404, "open": 200, "click": 302}
        for k, p in paths.items():
            st, hd, _ = http_get(port, p)
            if st != want[k]:
                problems.append(f"check {k}: GET {p} answered {st}, expected {want[k]}")
        st, hd, _ = http_get(port, paths["click"])
        first = re.search(r'href="(https?://[^"]+)"', soft_decoded(news)).group(1).replace("&amp;", "&")
        if hd.get("Location") != first:
            problems.append(f"check click: Location {hd.get('Location')!r}, expected {first!r}")
        log(f"tokens: open {tok_o}, click {tok_c} -> {first}")

        if srv_cpu:
            pin(m.pid, srv_cpu)
        run_wrk(args, f"http://{h.LOOPBACK}:{port}{paths['open']}", client)  # warm-up
        if srv_cpu:
            pin(m.pid, srv_cpu)
        for rep in range(args.runs):
            for k in rows:
                c0 = cpu_seconds(m.pid)
                w = run_wrk(args, f"http://{h.LOOPBACK}:{port}{paths[k]}", client)
                w["cpu_us_per_req"] = 1e6 * (cpu_seconds(m.pid) - c0) / max(1, w["requests"])
                expect_bad = w["requests"] if want[k] == 404 else 0
                if w["socket_errors"] or abs(w["non_2xx_3xx"] - expect_bad) > args.http_connections:
                    problems.append(f"{k} run {rep + 1}: {w['non_2xx_3xx']} non-2xx/3xx of "
                                    f"{w['requests']}, {w['socket_errors']} socket errors")
                log(f"   run {rep + 1} {k:7}: {w['req_per_s']:8.0f} req/s  p50 {w['p50_ms']:.2f} ms  "
                    f"p99 {w['p99_ms']:.2f} ms  daemon {w['cpu_us_per_req']:.0f} us/req")
                results[k].append(w)
    finally:
        m.stop()
    if "http: tracking:" in m.log():
        problems.append(f"store failures during the run:\n{h._tail(m.log(), 10)}")

    med = {k: {f: statistics.median(r[f] for r in rs)
               for f in ("req_per_s", "p50_ms", "p99_ms", "cpu_us_per_req")}
           for k, rs in results.items() if rs}
    print()
    print(f"== Tracking at the HTTP endpoint: wrk -t1 -c{args.http_connections} -d{args.seconds}s, "
          f"[http] threads = {args.threads}, {args.runs} runs (median), "
          f"{'daemon pinned to one core, wrk on the other' if srv_cpu else 'shared cores'} ==")
    print(f"   {'':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'daemon us/req':>14}")
    for k in rows:
        if k in med:
            print(f"   {k:8} {med[k]['req_per_s']:9.0f} {med[k]['p50_ms']:8.2f} {med[k]['p99_ms']:8.2f} "
                  f"{med[k]['cpu_us_per_req']:14.0f}")
    ok = all(k in med and med[k]["req_per_s"] >= HTTP_TARGET for k in ("open", "click"))
    for k in ("open", "click"):
        if k in med:
            print(f"   {k}: {med[k]['req_per_s']:.0f} req/s (target >= {HTTP_TARGET:.0f}), "
                  f"{med[k]['req_per_s'] / med['404']['req_per_s']:.2f}x the 404 floor "
                  f"{'PASS' if med[k]['req_per_s'] >= HTTP_TARGET else 'MISS'}")
    return {"results": med, "target": HTTP_TARGET, "pass": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=("milter", "http"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--per-session", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration per run")
    ap.add_argument("--http-connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="[http] threads")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    ap.add_argument("--sesmilter", default=str(h.DEFAULT_BINARY))
    ap.add_argument("--milter-load", default=str(h.BUILD / "bench" / "milter_load"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    problems: list[str] = []
    root = h.make_root("tracking-bench")
    log(f"work directory: {root}")
    key = h.keygen_openssl(TRACKED, "s1", "rsa", root / "keys", bits=2048)
    out = {}
    try:
        if args.only in (None, "milter"):
            out["milter"] = bench_milter(args, root, key, problems)
        if args.only in (None, "http"):
            if not Path(args.wrk).exists():
                problems.append(f"{args.wrk} not found (Debian package wrk)")
            else:
                out["http"] = bench_http(args, root, key, problems)
    except h.HarnessError as e:
        problems.append(str(e))
    for p in problems:
        print(f"!! {p}")
    if args.json:
        out["problems"] = problems
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    if problems or args.keep:
        log(f"work directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
