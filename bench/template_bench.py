#!/usr/bin/python3
"""bench/template_bench.py -- template rendering cost inside the milter.

    /usr/bin/python3 bench/template_bench.py [--runs 5] [--messages 3000] [--json FILE]

One sesmilter (RSA-2048 key, a store holding a typical newsletter template of
about 20 KB of HTML plus its text part) is driven by build/bench/milter_load
with two messages, alternately, in the same run:

  templated   a short message naming the template (X-SES-Template +
              X-SES-Template-Data): render + MIME rebuild + DKIM sign
  sign-only   the message `sesctl template render` produces for the same
              data (the same headers and body the milter would make): DKIM
              sign only

and reports msg/s and the milter's own CPU time per message for each, and the
ratio templated/sign-only (target >= 0.7). When the machine has two cores the
milter is pinned to one and the client to the other.

Before timing, a short run at log level info must show every templated
message rendered (`template=NAME` in sesmilter's log) and signed. A broken
run exits 1; a missed target only prints MISS. Uses tests/e2e/harness.py.
Root only (sesmilter's socket is handed to user postfix, as in the e2e tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness as h  # noqa: E402

DOMAIN = "example.com"
SENDER = "sender@example.com"
RCPT = "rcpt@example.net"
TEMPLATE = "bench_newsletter"
TARGET_RATIO = 0.7


# The process helpers are the milter benchmark's own.
sys.path.insert(0, str(HERE))
from run import cpu_seconds, log, pin  # noqa: E402
from run import milter_load as run_milter_load  # noqa: E402


# --------------------------------------------------------------------------
# the template and its data: a newsletter with a product table

def newsletter_html() -> str:
    row = """      <tr>
        <td style="padding:12px 16px;border-bottom:1px solid #e5e7eb;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#111827">
          <a href="{{url}}" style="color:#1d4ed8;text-decoration:none;font-weight:600">{{title}}</a><br>
          <span style="color:#6b7280;font-size:12px">{{category}} &middot; SKU {{sku}}</span>
        </td>
        <td align="right" style="padding:12px 16px;border-bottom:1px solid #e5e7eb;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#111827;white-space:nowrap">{{price}}</td>
      </tr>
"""
    para = """  <tr><td style="padding:8px 32px;font-family:Georgia,serif;font-size:15px;line-height:1.6;color:#374151">
    {{name}}, {{intro}} Our team in {{city}} picked these for you because you liked {{last_category}}.
    Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et
    dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.
  </td></tr>
"""
    head = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{subject_line}}</title>
<style>body{margin:0;padding:0;background:#f3f4f6} a{color:#1d4ed8} .btn{display:inline-block;padding:12px 20px;border-radius:6px;background:#1d4ed8;color:#fff !important;text-decoration:none}</style>
</head><body>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f4f6">
<tr><td align="center">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" style="background:#ffffff;margin:24px 0;border-radius:8px">
  <tr><td style="padding:24px 32px;font-family:Helvetica,Arial,sans-serif;font-size:22px;font-weight:700;color:#111827">
    {{brand}} &mdash; {{headline}}</td></tr>
"""
    table = """  <tr><td style="padding:8px 32px">
    <table role="presentation" width="100%" cellpadding="0" cellspacing="0">
{{#products}}
""" + row + """{{/products}}
    </table>
  </td></tr>
"""
    tail = """  <tr><td align="center" style="padding:24px 32px"><a class="btn" href="{{cta_url}}">{{cta}}</a></td></tr>
  <tr><td style="padding:16px 32px;font-family:Helvetica,Arial,sans-serif;font-size:11px;color:#9ca3af">
    You receive this because {{email}} subscribed to {{brand}} news. {{{unsubscribe_html}}}<br>
    {{company}}, {{address}} &middot; {{#vip}}VIP member since {{vip_since}}{{/vip}}{{^vip}}Join our VIP club{{/vip}}
  </td></tr>
</table></td></tr></table>
</body></html>
"""
    return head + para * 20 + table + para * 22 + tail


def newsletter_text() -> str:
    return """{{brand}} - {{headline}}

{{name}}, {{intro}}

{{#products}}* {{title}} ({{category}}, SKU {{sku}}): {{price}}
  {{url}}
{{/products}}

{{cta}}: {{cta_url}}

You receive this because {{email}} subscribed to {{brand}} news.
Unsubscribe: {{unsubscribe_url}}
{{company}}, {{address}}
"""


def newsletter_data() -> dict:
    cats = ["Kitchen", "Garden", "Books", "Outdoor", "Audio"]
    return {
        "name": "Ana Souza", "email": "ana@example.net", "city": "Lisboa",
        "brand": "Example Shop", "headline": "Picks of the week for you",
        "subject_line": "Your weekly picks", "intro": "here is what is new this week.",
        "last_category": "Books", "cta": "See all offers", "cta_url": "https://shop.example.com/offers?u=1042",
        "unsubscribe_html": '<a href="https://shop.example.com/u/abc">Unsubscribe</a>',
        "unsubscribe_url": "https://shop.example.com/u/abc",
        "company": "Example Shop Lda", "address": "Rua Augusta 100, 1100-053 Lisboa",
        "vip": True, "vip_since": "2021",
        "products": [{"title": f"Product number {i} with a fairly descriptive name",
                      "category": cats[i % len(cats)], "sku": f"SKU-{1000 + i}",
                      "price": f"EUR {10 + i}.99",
                      "url": f"https://shop.example.com/p/{1000 + i}?utm_source=newsletter"}
                     for i in range(12)],
    }


def folded_json(data: dict) -> str:
    """JSON folded between items (each line well under 998 bytes)."""
    return json.dumps(data, separators=(", ", ": ")).replace("}, {", "},\r\n {")


def templated_message() -> bytes:
    return h.make_message(SENDER, RCPT, "(set by the template)", "placeholder\n",
                          message_id="<bench-templated@example.com>",
                          extra_headers=[("X-SES-Template", TEMPLATE),
                                         ("X-SES-Template-Data", folded_json(newsletter_data()))])


# --------------------------------------------------------------------------

def milter_load(load_bin, spec, message: Path, messages, connections, per_session,
                client_cpus=None) -> dict:
    return run_milter_load(load_bin, spec, messages, connections, per_session,
                           client_cpus=client_cpus, message=message, sender=SENDER, rcpt=RCPT,
                           timeout=900)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--per-session", type=int, default=10)
    ap.add_argument("--sesmilter", default=str(h.DEFAULT_BINARY))
    ap.add_argument("--sesctl", default=str(h.DEFAULT_SESCTL))
    ap.add_argument("--milter-load", default=str(h.BUILD / "bench" / "milter_load"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    problems: list[str] = []
    root = h.make_root("template-bench")
    log(f"work directory: {root}")
    key = h.keygen_openssl(DOMAIN, "s1", "rsa", root / "keys", bits=2048)
    sock = root / "milter.sock"
    store = root / "store"
    extra = f'[store]\npath = "{store}"\n'

    def config(level):
        return h.sesmilter_config(f"unix:{sock}", {DOMAIN: [key]}, log_level=level, extra=extra)

    cfg = root / "ctl.toml"
    cfg.write_text(config("warning"))
    ctl = lambda *a: h.sesctl("-c", str(cfg), *a, binary=args.sesctl)  # noqa: E731
    (root / "t.html").write_text(newsletter_html())
    (root / "t.txt").write_text(newsletter_text())
    ctl("template", "put", TEMPLATE, "--subject", "{{brand}}: {{headline}}, {{name}}",
        "--html", str(root / "t.html"), "--text", str(root / "t.txt"))

    tmsg = root / "templated.eml"
    tmsg.write_bytes(templated_message())
    rendered = ctl("template", "render", TEMPLATE, "--data", json.dumps(newsletter_data()),
                   "--from", SENDER, "--to", RCPT).stdout.encode()
    rendered = rendered.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    smsg = root / "rendered.eml"
    smsg.write_bytes(rendered.replace(b"\r\n\r\n", b"\r\nMessage-ID: <bench-rendered@example.com>\r\n\r\n", 1))
    html_size = len(newsletter_html().encode())
    log(f"template: {html_size} bytes of HTML; templated message {tmsg.stat().st_size} bytes, "
        f"rendered message {smsg.stat().st_size} bytes")

    # Check: every templated message rendered and signed.
    m = h.Sesmilter(args.sesmilter, config("info"), root / "check")
    m.start()
    try:
        for path in (tmsg, smsg):
            r = milter_load(args.milter_load, f"unix:{sock}", path, 20, 2, 5)
            if r["errors"] or r["signed"] != r["messages"]:
                problems.append(f"check {path.name}: {r['signed']}/{r['messages']} signed, "
                                f"{r['errors']} errors: {r['stderr'][:300]}")
        n = m.log().count(f"template={TEMPLATE}")
        if n != 20:
            problems.append(f"check: {n}/20 templated messages logged as rendered:\n"
                            f"{h._tail(m.log(), 10)}")
    finally:
        m.stop()

    m = h.Sesmilter(args.sesmilter, config("warning"), root / "timed")
    m.start()
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2
    client = str(cpus[1]) if pinned else None
    results = {"templated": [], "sign-only": []}
    try:
        if pinned:
            pin(m.pid, str(cpus[0]))
        for path in (tmsg, smsg):
            milter_load(args.milter_load, f"unix:{sock}", path, args.warmup, args.connections,
                        args.per_session, client)
        if pinned:
            pin(m.pid, str(cpus[0]))  # threads made during warm-up
        for rep in range(args.runs):
            for kind, path in (("sign-only", smsg), ("templated", tmsg)):
                c0 = cpu_seconds(m.pid)
                r = milter_load(args.milter_load, f"unix:{sock}", path, args.messages,
                                args.connections, args.per_session, client)
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
    ok = bool(med.get("templated")) and bool(med.get("sign-only"))
    ratio = med["templated"]["msg_per_s"] / med["sign-only"]["msg_per_s"] if ok else 0.0
    cpu_ratio = med["sign-only"]["cpu_us_per_msg"] / med["templated"]["cpu_us_per_msg"] if ok else 0.0
    print()
    print(f"== Templates: render + MIME rebuild + RSA-2048 sign vs sign-only, {html_size} B HTML "
          f"template, {args.messages} messages x {args.runs} runs (median), "
          f"{'milter pinned to one core' if pinned else 'shared cores'} ==")
    print(f"   {'':10} {'msg/s':>8} {'p50 ms':>8} {'milter us/msg':>14}")
    for k in ("sign-only", "templated"):
        if k in med:
            print(f"   {k:10} {med[k]['msg_per_s']:8.0f} {med[k]['p50_ms']:8.2f} "
                  f"{med[k]['cpu_us_per_msg']:14.0f}")
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"   templated / sign-only throughput: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict}")
    print(f"   sign-only / templated milter CPU per message: {cpu_ratio:.2f}")
    for p in problems:
        print(f"!! {p}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "template_html_bytes": html_size, "results": med, "ratio": ratio,
            "cpu_ratio": cpu_ratio, "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO,
            "problems": problems}, indent=2) + "\n")
    if problems or args.keep:
        log(f"work directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
