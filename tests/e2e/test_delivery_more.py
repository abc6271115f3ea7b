"""test_delivery_more.py -- the rest of delivery tracking (#10), end to end.

- `sesctl identity verify` checks an identity's return-path domain (MX and
  SPF) against a real NSD on loopback.

Run with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import harness as h
import nsd

KEYS = '[return_path]\nkeys = ["1:0123456789abcdef-secret"]\n'


# --------------------------------------------------------------------------
# sesctl identity verify: the return-path domain

class VerifyWorld:
    """Keys for two identities and a zone where one return path is set up and
    the other is not."""

    def __init__(self, root: Path):
        kd = root / "keys"
        self.good = h.keygen_openssl("good.example", "s1", "rsa", kd)
        self.bad = h.keygen_openssl("bad.example", "s1", "rsa", kd)
        self.records = [
            (self.good["dns_name"], "TXT", self.good["txt"]),
            ("good.example", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
            ("_dmarc.good.example", "TXT", "v=DMARC1; p=none"),
            ("bounce.good.example", "MX", (10, "mx1.good.example")),
            ("bounce.good.example", "MX", (20, "mx2.good.example")),
            ("mx1.good.example", "A", "127.0.0.1"),
            ("mx2.good.example", "AAAA", "::1"),
            ("bounce.good.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
            # bad.example itself is fine; its return path is not: no MX, and
            # an SPF record that does not cover the sending address.
            (self.bad["dns_name"], "TXT", self.bad["txt"]),
            ("bad.example", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
            ("_dmarc.bad.example", "TXT", "v=DMARC1; p=none"),
            ("bounce.bad.example", "TXT", "v=spf1 ip4:198.51.100.1 -all"),
            # An MX whose host has no address.
            ("bounce.dangling.example", "MX", (10, "nowhere.dangling.example")),
        ]


@pytest.fixture(scope="module")
def vworld():
    root = h.make_root("delivery-more-verify")
    w = VerifyWorld(root)
    w.root = root
    w.dns = nsd.Nsd(root / "nsd").start(w.records)
    yield w
    w.dns.stop()
    shutil.rmtree(root, ignore_errors=True)


def verify_config(w, domain, key, rpd, ips='["192.0.2.10"]', extra="") -> Path:
    cfg = w.root / f"{domain}.toml"
    cfg.write_text("\n".join([
        "[[domain]]",
        f'name = "{domain}"',
        f'dkim = [ {{ selector = "{key["selector"]}", key = "{key["key_file"]}" }} ]',
        f"outbound_ips = {ips}",
        f'return_path_domain = "{rpd}"',
        "",
        KEYS,
        extra,
        "[dns]",
        f'forwarders = ["{w.dns.forwarder}"]',
        "",
    ]))
    return cfg


def run_verify(sesctl, cfg, domain, json_out=True, store=None):
    cmd = [str(sesctl), "-c", str(cfg)] + (["--json"] if json_out else []) + [
        "identity", "verify", domain]
    cmd += ["--store", str(store)] if store else ["--no-store"]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def test_identity_verify_return_path_set_up(sesctl_bin, vworld):
    cfg = verify_config(vworld, "good.example", vworld.good, "bounce.good.example")
    cp = run_verify(sesctl_bin, cfg, "good.example")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    r = json.loads(cp.stdout)
    assert r["state"] == "verified" and r["return_path_domain"] == "bounce.good.example"
    checks = {c["kind"]: c for c in r["checks"]}
    assert set(checks) == {"dkim", "spf", "dmarc", "return_path_mx", "return_path_spf"}
    mx = checks["return_path_mx"]
    assert mx["state"] == "verified" and mx["name"] == "bounce.good.example"
    # The hosts in preference order, with their addresses.
    assert mx["found"] == "mx1.good.example (127.0.0.1); mx2.good.example (::1)"
    assert checks["return_path_spf"]["state"] == "verified"
    assert checks["return_path_spf"]["detail"] == "SPF authorizes 1 outbound address"

    # The text form names the checks and the hosts.
    cp = run_verify(sesctl_bin, cfg, "good.example", json_out=False)
    assert cp.returncode == 0
    assert "return_path_mx\tverified\tbounce.good.example" in cp.stdout
    assert "MX of bounce.good.example: mx1.good.example (127.0.0.1); mx2.good.example (::1)" in cp.stdout


def test_identity_verify_return_path_missing_mx_and_spf_not_covering(sesctl_bin, vworld):
    cfg = verify_config(vworld, "bad.example", vworld.bad, "bounce.bad.example")
    cp = run_verify(sesctl_bin, cfg, "bad.example")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    r = json.loads(cp.stdout)
    checks = {c["kind"]: c for c in r["checks"]}
    # The identity's own records are fine ...
    assert {k: checks[k]["state"] for k in ("dkim", "spf", "dmarc")} == {
        "dkim": "verified", "spf": "verified", "dmarc": "verified"}
    # ... its return path is not.
    assert r["state"] == "failed"
    assert checks["return_path_mx"]["state"] == "failed"
    assert checks["return_path_mx"]["detail"] == "no MX record for bounce.bad.example: bounces cannot come back"
    assert checks["return_path_mx"]["publish"].startswith("bounce.bad.example. IN MX 10 ")
    spf = checks["return_path_spf"]
    assert spf["state"] == "failed"
    assert spf["detail"] == "SPF record of bounce.bad.example does not authorize 192.0.2.10 (fail)"
    assert spf["found"] == "v=spf1 ip4:198.51.100.1 -all"
    assert "ip4:192.0.2.10" in spf["publish"]
    assert r["reason"] == checks["return_path_mx"]["detail"]

    # The stored state is the identity's own (what require_verified reads).
    store = vworld.root / "store-bad"
    cfg = verify_config(vworld, "bad.example", vworld.bad, "bounce.bad.example",
                        extra=f'[store]\npath = "{store}"\n')
    cp = run_verify(sesctl_bin, cfg, "bad.example", store=store)
    assert cp.returncode == 1
    cp = subprocess.run([str(sesctl_bin), "-c", str(cfg), "--json", "identity", "status", "bad.example"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    stored = json.loads(cp.stdout)["identities"][0]
    assert stored["state"] == "verified"
    assert "return_path_mx" not in {c["kind"] for c in stored["checks"]}


def test_identity_verify_return_path_mx_host_without_address(sesctl_bin, vworld):
    # No outbound_ips anywhere: the SPF record's presence is all that is checked.
    cfg = verify_config(vworld, "good.example", vworld.good, "bounce.dangling.example", ips="[]")
    cp = run_verify(sesctl_bin, cfg, "good.example")
    assert cp.returncode == 1
    r = json.loads(cp.stdout)
    checks = {c["kind"]: c for c in r["checks"]}
    assert checks["return_path_mx"]["state"] == "failed"
    assert checks["return_path_mx"]["detail"] == \
        "MX host nowhere.dangling.example of bounce.dangling.example does not resolve"
    assert checks["return_path_mx"]["found"] == "nowhere.dangling.example (no address)"
    assert checks["return_path_spf"]["state"] == "failed"
    assert checks["return_path_spf"]["detail"] == "SPF record of bounce.dangling.example missing"
