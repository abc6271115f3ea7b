"""test_auth.py -- DKIM verification, DMARC and the identity checks, against
a real NSD on loopback.

The first half runs `sesctl auth verify` / `sesctl identity verify` on
messages signed by python3-dkim (an independent implementation).  The
second half goes through Postfix: an unauthorized sender is refused with the
documented reply, inbound mail gets a correct Authentication-Results header
(forged ones removed), DMARC p=reject can refuse, and with the DNS server
stopped the answer is 451 and nothing is lost.

Run with Debian's /usr/bin/python3 (python3-dkim, python3-cryptography).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from email.utils import parseaddr
from pathlib import Path

import dkim
import pytest

import harness as h
import nsd

RCPT = "rcpt@remote.test"
AUTHSERV = "mx.sesmilter.test"
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id"]


# --------------------------------------------------------------------------
# keys, zone and signing

def ed25519_seed_b64(pem_path: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(Path(pem_path).read_bytes(), None)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    return base64.b64encode(raw)


class World:
    """Keys, the zone NSD serves, and a signer."""

    def __init__(self, root: Path):
        kd = root / "keys"
        self.rsa = h.keygen_openssl("example.com", "s1", "rsa", kd)
        self.ed = h.keygen_openssl("example.com", "e1", "ed25519", kd)
        self.sub = h.keygen_openssl("mail.relaxed.example", "s1", "rsa", kd)
        self.strict = h.keygen_openssl("mail.strict.example", "s1", "rsa", kd)
        self.absent = h.keygen_openssl("example.com", "gone", "rsa", kd)  # never published
        self.records = [
            (self.rsa["dns_name"], "TXT", self.rsa["txt"]),
            (self.ed["dns_name"], "TXT", self.ed["txt"]),
            (self.sub["dns_name"], "TXT", self.sub["txt"]),
            (self.strict["dns_name"], "TXT", self.strict["txt"]),
            ("example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"),
            ("_dmarc.example.com", "TXT", "v=DMARC1; p=reject"),
            ("none.example", "TXT", "v=spf1 -all"),
            ("_dmarc.none.example", "TXT", "v=DMARC1; p=none"),
            ("quar.example", "TXT", "v=spf1 -all"),
            ("_dmarc.quar.example", "TXT", "v=DMARC1; p=quarantine"),
            ("rej.example", "TXT", "v=spf1 -all"),
            ("_dmarc.rej.example", "TXT", "v=DMARC1; p=reject"),
            ("norecord.example", "TXT", "v=spf1 -all"),
            ("_dmarc.relaxed.example", "TXT", "v=DMARC1; p=reject"),
            ("_dmarc.strict.example", "TXT", "v=DMARC1; p=reject; adkim=s"),
            ("bounce.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        ]

    def sign(self, msg: bytes, key: dict, headers=SIGNED, canon=(b"relaxed", b"simple")) -> bytes:
        if key["algorithm"] == "ed25519":
            sig = dkim.sign(msg, key["selector"].encode(), key["domain"].encode(),
                            ed25519_seed_b64(key["key_file"]), signature_algorithm=b"ed25519-sha256",
                            include_headers=headers, canonicalize=canon)
        else:
            sig = dkim.sign(msg, key["selector"].encode(), key["domain"].encode(),
                            Path(key["key_file"]).read_bytes(), include_headers=headers,
                            canonicalize=canon)
        return sig + msg


@pytest.fixture(scope="module")
def world():
    root = h.make_root("auth-e2e")
    w = World(root)
    w.dns = nsd.Nsd(root / "nsd").start(w.records)
    w.root = root
    yield w
    w.dns.stop()


def message(from_, subject="auth test", extra=None) -> bytes:
    return h.make_message(from_, RCPT, subject, "Hello.\nSecond line.\n", extra_headers=extra)


def auth_verify(sesctl, world, msg: bytes, ip=None, sender=None, helo="client.example.net") -> dict:
    path = world.root / f"msg-{abs(hash(msg))}.eml"
    path.write_bytes(msg)
    cmd = [str(sesctl), "--json", "auth", "verify", str(path), "--dns", world.dns.forwarder,
           "--timeout", "3"]
    if ip:
        cmd += ["--ip", ip, "--helo", helo]
    if sender is not None:
        cmd += ["--sender", sender]
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert cp.returncode == 0, f"{cmd}: {cp.stdout} {cp.stderr}"
    return json.loads(cp.stdout)


# --------------------------------------------------------------------------
# DKIM

def test_dkim_rsa_signed_by_python_dkim_verifies(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, world.sign(message("Alice <alice@example.com>"), world.rsa))
    assert [(s["domain"], s["selector"], s["result"]) for s in r["dkim"]] == [("example.com", "s1", "pass")]
    assert r["dkim"][0]["key_bits"] == 2048


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed")])
def test_dkim_canonicalizations_verify(sesctl_bin, world, canon):
    msg = message("Alice <alice@example.com>", extra=[("X-Folded", "first\r\n\tsecond  part")])
    r = auth_verify(sesctl_bin, world, world.sign(msg, world.rsa, SIGNED + [b"x-folded"], canon))
    assert [s["result"] for s in r["dkim"]] == ["pass"], r["dkim"]


def test_dkim_ed25519_signed_by_python_dkim_verifies(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, world.sign(message("Alice <alice@example.com>"), world.ed))
    assert [(s["selector"], s["result"], s["algorithm"]) for s in r["dkim"]] == [("e1", "pass", "ed25519-sha256")]


def test_dkim_tampered_body_fails(sesctl_bin, world):
    signed = world.sign(message("Alice <alice@example.com>"), world.rsa)
    r = auth_verify(sesctl_bin, world, signed.replace(b"Second line.", b"Second line!"))
    assert r["dkim"][0]["result"] == "fail"
    assert "body hash" in r["dkim"][0]["reason"]


def test_dkim_tampered_header_fails(sesctl_bin, world):
    signed = world.sign(message("Alice <alice@example.com>", subject="original"), world.rsa)
    r = auth_verify(sesctl_bin, world, signed.replace(b"Subject: original", b"Subject: changed"))
    assert r["dkim"][0]["result"] == "fail"


def test_dkim_missing_key_is_permerror(sesctl_bin, world):
    # RFC 6376 6.1.2: no key record is a PERMFAIL, dkim=permerror in RFC 8601.
    r = auth_verify(sesctl_bin, world, world.sign(message("Alice <alice@example.com>"), world.absent))
    assert r["dkim"][0]["result"] == "permerror"
    assert r["dkim"][0]["reason"] == "no key for signature"
    assert "dkim=permerror (no key for signature) header.d=example.com header.s=gone" in r["authentication_results"]


def test_unsigned_message_is_dkim_none(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, message("Alice <alice@example.com>"))
    assert r["dkim"] == []
    assert "dkim=none" in r["authentication_results"]


# --------------------------------------------------------------------------
# DMARC

def test_dmarc_pass_through_dkim_and_through_spf(sesctl_bin, world):
    signed = world.sign(message("Alice <alice@example.com>"), world.rsa)
    r = auth_verify(sesctl_bin, world, signed, ip="198.51.100.1", sender="alice@example.com")
    assert r["spf"]["result"] == "fail"
    assert r["dmarc"]["result"] == "pass" and r["dmarc"]["dkim_aligned"]
    r = auth_verify(sesctl_bin, world, message("Alice <alice@example.com>"), ip="192.0.2.7",
                    sender="alice@example.com")
    assert r["dmarc"]["result"] == "pass" and r["dmarc"]["spf_aligned"]
    assert r["authentication_results"].endswith("dmarc=pass (p=reject) header.from=example.com")
    assert r["action"] == "annotate"


@pytest.mark.parametrize("domain,policy", [("none.example", "none"), ("quar.example", "quarantine"),
                                           ("rej.example", "reject")])
def test_dmarc_fail_with_each_policy(sesctl_bin, world, domain, policy):
    r = auth_verify(sesctl_bin, world, message(f"Boss <ceo@{domain}>"), ip="198.51.100.1",
                    sender=f"ceo@{domain}")
    assert r["spf"]["result"] == "fail"
    assert r["dmarc"]["result"] == "fail"
    assert r["dmarc"]["policy"] == policy
    assert r["dmarc"]["applied"] == policy
    assert f"dmarc=fail (p={policy} dis={policy}) header.from={domain}" in r["authentication_results"]
    assert r["action"] == "annotate"  # the default settings only annotate


def test_dmarc_no_record(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, message("Boss <ceo@norecord.example>"), ip="198.51.100.1",
                    sender="ceo@norecord.example")
    assert r["dmarc"]["result"] == "none"
    assert "dmarc=none" in r["authentication_results"]


def test_dmarc_relaxed_alignment_accepts_a_subdomain_signature(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, world.sign(message("News <news@relaxed.example>"), world.sub),
                    ip="198.51.100.1", sender="news@other.example")
    assert r["dkim"][0]["result"] == "pass" and r["dkim"][0]["domain"] == "mail.relaxed.example"
    assert r["dmarc"]["result"] == "pass"


def test_dmarc_strict_alignment_refuses_a_subdomain_signature(sesctl_bin, world):
    r = auth_verify(sesctl_bin, world, world.sign(message("News <news@strict.example>"), world.strict),
                    ip="198.51.100.1", sender="news@other.example")
    assert r["dkim"][0]["result"] == "pass" and r["dkim"][0]["domain"] == "mail.strict.example"
    assert r["dmarc"]["result"] == "fail"
    assert r["dmarc"]["policy"] == "reject"


# --------------------------------------------------------------------------
# identity verification

def identity_config(world, outbound_ips, key) -> str:
    return "\n".join([
        "[[domain]]",
        'name = "example.com"',
        f'dkim = [ {{ selector = "{key["selector"]}", key = "{key["key_file"]}" }} ]',
        f"outbound_ips = {json.dumps(outbound_ips)}",
        "",
        "[dns]",
        f'forwarders = ["{world.dns.forwarder}"]',
        "",
    ])


def test_identity_verify_reports_each_record(sesctl_bin, world):
    cfg = world.root / "identity.toml"
    cfg.write_text(identity_config(world, ["192.0.2.10"], world.rsa))
    cp = subprocess.run([str(sesctl_bin), "-c", str(cfg), "--json", "identity", "verify", "example.com",
                         "--dns", world.dns.forwarder, "--no-store"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    r = json.loads(cp.stdout)
    states = {c["kind"]: c["state"] for c in r["checks"]}
    assert states == {"dkim": "verified", "spf": "verified", "dmarc": "verified"}, r
    assert r["state"] == "verified" and cp.returncode == 0

    # A selector whose key is not in DNS, and an address SPF does not cover.
    cfg.write_text(identity_config(world, ["203.0.113.5"], world.absent))
    cp = subprocess.run([str(sesctl_bin), "-c", str(cfg), "--json", "identity", "verify", "example.com",
                         "--dns", world.dns.forwarder, "--no-store"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    r = json.loads(cp.stdout)
    assert cp.returncode == 1
    checks = {c["kind"]: c for c in r["checks"]}
    assert checks["dkim"]["state"] == "pending"
    assert checks["dkim"]["detail"] == "DKIM record gone._domainkey missing"
    assert checks["dkim"]["publish"].startswith('gone._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert checks["spf"]["state"] == "failed"
    assert "203.0.113.5" in checks["spf"]["publish"]
    assert r["state"] == "failed"


# --------------------------------------------------------------------------
# through Postfix (needs the milter wiring of the identity and verify stages)

def verify_config(mta, world, key, extra="") -> str:
    return mta.config({"example.com": [key]}, extra="\n".join([
        "[outbound]",
        "authenticated = true",
        "networks = []",
        "daemons = []",
        "",
        "[verify]",
        "enabled = true",
        f'authserv_id = "{AUTHSERV}"',
        extra,
        "",
        "[dns]",
        f'forwarders = ["{world.dns.forwarder}"]',
        'timeout = "2s"',
        "",
    ]))


def test_unauthorized_sender_is_refused(mta, world):
    cfg = mta.config({"example.com": [world.rsa]}, extra="\n".join([
        "[outbound]", 'networks = ["127.0.0.0/8"]', "",
        "[dns]", f'forwarders = ["{world.dns.forwarder}"]', ""]))
    mta.milter(cfg)
    with pytest.raises(h.SMTPReplyError) as e:
        mta.send(message("Mallory <m@evil.example>"), mail_from="m@evil.example")
    assert e.value.smtp_code == 550
    assert "5.7.1 From: domain evil.example is not a configured sending identity" in e.value.text
    with pytest.raises(h.SMTPReplyError) as e:
        mta.send(message("Alice <alice@example.com>"), mail_from="m@evil.example")
    assert e.value.smtp_code == 550
    assert "5.7.1 sender domain evil.example is not a configured sending identity" in e.value.text
    # The configured identity still goes through, signed.
    code, _ = mta.send(message("Alice <alice@example.com>"), mail_from="alice@example.com")
    assert code == 250
    got = mta.sink.wait_count(1, 20)
    assert len(got) == 1 and h.dkim_signatures(got[0])


def test_inbound_mail_gets_authentication_results(mta, world):
    mta.milter(verify_config(mta, world, world.rsa))
    forged = [("Authentication-Results", f"{AUTHSERV}; dkim=pass header.d=bank.example"),
              ("Authentication-Results", "other.example; spf=pass smtp.mailfrom=x@other.example")]
    # simple/simple: the header bytes must reach libopendkim exactly as sent.
    msg = world.sign(message("Alice <alice@example.com>", extra=forged + [("X-Folded", "a\r\n\tb  c")]),
                     world.rsa, SIGNED + [b"x-folded"], (b"simple", b"simple"))
    code, _ = mta.send(msg, mail_from="alice@example.com")
    assert code == 250
    got = mta.sink.wait_count(1, 20)[0]
    ours = [v for v in h.header_values(got, "Authentication-Results") if v.startswith(AUTHSERV)]
    assert len(ours) == 1, got.decode(errors="replace")
    ar = ours[0]
    assert "bank.example" not in ar
    assert "dkim=pass header.d=example.com header.s=s1" in ar
    assert "spf=pass" in ar and "smtp.mailfrom=alice@example.com" in ar
    assert ar.endswith("dmarc=pass (p=reject) header.from=example.com")
    assert any(v.startswith("other.example;") for v in h.header_values(got, "Authentication-Results"))
    # Our header on top does not break the sender's signature.
    assert h.dkim_verify(got, {world.rsa["dns_name"]: world.rsa["txt"]})


def test_inbound_dmarc_reject(mta, world):
    mta.milter(verify_config(mta, world, world.rsa, extra="dmarc_reject = true"))
    with pytest.raises(h.SMTPReplyError) as e:
        mta.send(message("Boss <ceo@rej.example>"), mail_from="ceo@rej.example")
    assert e.value.smtp_code == 550
    assert "5.7.1 message rejected by the DMARC policy of rej.example" in e.value.text
    # p=none is only annotated.
    code, _ = mta.send(message("Boss <ceo@none.example>"), mail_from="ceo@none.example")
    assert code == 250
    got = mta.sink.wait_count(1, 20)[0]
    assert "dmarc=fail (p=none dis=none) header.from=none.example" in \
        h.header_values(got, "Authentication-Results")[0]


def test_dns_down_answers_451_and_nothing_is_lost(mta, world):
    mta.milter(verify_config(mta, world, world.rsa))
    msg = world.sign(message("Alice <alice@example.com>", subject="while DNS is down"), world.rsa)
    world.dns.stop()
    time.sleep(3)  # let anything cached (TTL 1 s) expire
    try:
        with pytest.raises(h.SMTPReplyError) as e:
            mta.send(msg, mail_from="alice@example.com")
        assert e.value.smtp_code == 451
        assert "4.4.3" in e.value.text
        assert mta.sink.count() == 0
        assert mta.postfix.queue() == []  # refused at DATA: the client still has it
    finally:
        world.dns.start(world.records)
    # The client retries once DNS is back: delivered, verified.
    code, _ = mta.send(msg, mail_from="alice@example.com")
    assert code == 250
    got = mta.sink.wait_count(1, 20)[0]
    assert h.message_id(got) == h.message_id(msg)
    assert "dkim=pass" in h.header_values(got, "Authentication-Results")[0]
