"""DKIM signing through a real Postfix, checked by an independent verifier
(python3-dkim), with keys made by `sesctl dkim keygen`."""

import os
import re
import stat
from email.utils import parseaddr
from pathlib import Path

import pytest

import harness as h

RCPT = "rcpt@remote.test"


def deliver_one(mta, from_addr, subject="test", body="Hello, world.\n", **kw):
    """Send one message and return (sent_bytes, delivered_bytes)."""
    msg = h.make_message(from_addr, RCPT, subject, body, **kw)
    code, _ = mta.send(msg, mail_from=parseaddr(from_addr)[1])
    assert code == 250
    delivered = mta.sink.wait_count(1, 20)
    assert len(delivered) == 1
    assert h.message_id(delivered[0]) == h.message_id(msg)
    return msg, delivered[0]


def assert_signed_headers(sig):
    """h= lists real header names and covers the ones every message here has."""
    names = [n.strip() for n in sig["h"].split(":")]
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9-]+", n)]
    assert not bad, f"h= contains garbage: {sig['h']!r}"
    lower = [n.lower() for n in names]
    for need in ("from", "to", "subject", "date", "message-id"):
        assert need in lower, f"{need} not signed: h={sig['h']}"


# ---------------------------------------------------------------------------
# sesctl dkim keygen (the keys the other tests use)

def test_keygen_json_and_key_files(keys):
    for k, alg, kind in ((keys.rsa, "rsa", "rsa"), (keys.ed, "ed25519", "ed25519")):
        assert k["domain"] == "example.com"
        assert k["algorithm"] == alg
        assert k["dns_name"] == f"{k['selector']}._domainkey.example.com"
        path = Path(k["key_file"])
        assert path.name == f"example.com.{k['selector']}.pem"
        assert path.parent == keys.out_dir
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.read_text().startswith("-----BEGIN ")
        assert k["txt"].startswith(f"v=DKIM1; k={kind}; p="), k["txt"]
        assert "\n" not in k["txt"] and '"' not in k["txt"]


# ---------------------------------------------------------------------------
# signatures that verify

def test_rsa_signature_verifies(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}))
    _, got = deliver_one(mta, "Alice <alice@example.com>")
    sigs = h.dkim_signatures(got)
    assert len(sigs) == 1, got.decode()
    assert sigs[0]["a"] == "rsa-sha256"
    assert sigs[0]["d"] == "example.com"
    assert sigs[0]["s"] == "s1"
    assert_signed_headers(sigs[0])
    assert h.dkim_verify(got, keys.txt), got.decode()


def test_ed25519_signature_verifies(mta, keys):
    mta.milter(mta.config({"example.com": [keys.ed]}))
    _, got = deliver_one(mta, "alice@example.com")
    sigs = h.dkim_signatures(got)
    assert len(sigs) == 1, got.decode()
    assert sigs[0]["a"] == "ed25519-sha256"
    assert sigs[0]["d"] == "example.com"
    assert sigs[0]["s"] == "e1"
    assert_signed_headers(sigs[0])
    assert h.dkim_verify(got, keys.txt), got.decode()


def test_dual_signatures_each_verify(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}))
    _, got = deliver_one(mta, "alice@example.com", body="Two signatures.\n" * 20)
    results = h.dkim_verify_each(got, keys.txt)
    assert sorted(r["a"] for r in results) == ["ed25519-sha256", "rsa-sha256"], results
    assert all(r["d"] == "example.com" for r in results), results
    assert sorted(r["s"] for r in results) == ["e1", "s1"], results
    assert all(r["ok"] for r in results), results
    for sig in h.dkim_signatures(got):
        assert_signed_headers(sig)


def test_subdomain_from_signs_with_parent_domain(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa]}))
    _, got = deliver_one(mta, "News <news@news.example.com>")
    sigs = h.dkim_signatures(got)
    assert len(sigs) == 1, got.decode()
    assert sigs[0]["d"] == "example.com"
    if "i" in sigs[0]:  # an i= must lie within d= (RFC 6376 3.5)
        assert sigs[0]["i"].endswith("example.com")
    assert h.dkim_verify(got, keys.txt), got.decode()


def test_multipart_and_long_lines_verify(mta, keys):
    """A body with long lines, trailing blank lines, dots and whitespace."""
    mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}))
    body = (".leading dot\n" + "x" * 900 + "\n" + "tab\tand  spaces   \n"
            + "--\n" * 3 + "\n\n\n")
    _, got = deliver_one(mta, "alice@example.com", body=body,
                         extra_headers=[("X-Long", "a " * 200)])
    results = h.dkim_verify_each(got, keys.txt)
    assert len(results) == 2 and all(r["ok"] for r in results), results


# ---------------------------------------------------------------------------
# signatures that must not verify, and mail that must not be signed

def test_modified_message_fails_verification(mta, keys):
    mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}))
    _, got = deliver_one(mta, "alice@example.com", subject="original",
                         body="The amount is 100 EUR.\n")
    assert all(r["ok"] for r in h.dkim_verify_each(got, keys.txt))

    tampered_body = got.replace(b"100 EUR", b"900 EUR")
    assert tampered_body != got
    res = h.dkim_verify_each(tampered_body, keys.txt)
    assert len(res) == 2 and not any(r["ok"] for r in res), res
    assert not h.dkim_verify(tampered_body, keys.txt)

    tampered_subject = got.replace(b"Subject: original", b"Subject: changed")
    assert tampered_subject != got
    res = h.dkim_verify_each(tampered_subject, keys.txt)
    assert len(res) == 2 and not any(r["ok"] for r in res), res


def test_unknown_domain_passes_unsigned(mta, keys):
    # Sending identities without keys: their mail passes, unsigned, with a
    # log line.  (A domain that is no identity at all is refused; see
    # test_auth.py.)
    milter = mta.milter(mta.config({"example.com": [keys.rsa], "unknown.test": [], "notexample.com": []}))
    sent, got = deliver_one(mta, "bob@unknown.test", body="Not ours.\n")
    assert h.header_values(got, "DKIM-Signature") == [], got.decode()
    assert h.body_of(got) == h.body_of(sent)
    # a look-alike of a configured domain is not a subdomain of it
    sent2 = h.make_message("eve@notexample.com", RCPT, "x", "y\n")
    assert mta.send(sent2, mail_from="eve@notexample.com")[0] == 250
    msgs = mta.sink.wait_count(2, 20)
    got2 = [m for m in msgs if h.message_id(m) == h.message_id(sent2)]
    assert len(got2) == 1
    assert h.header_values(got2[0], "DKIM-Signature") == [], got2[0].decode()
    assert "dkim=none (no key for unknown.test)" in milter.log()


# ---------------------------------------------------------------------------
# awkward headers and bodies, with each signer ([dkim] signer)



@pytest.mark.parametrize("signer,canon", [("native", "relaxed/relaxed"), ("native", "simple/simple"),
                                          ("opendkim", "relaxed/relaxed"), ("opendkim", "simple/simple")])
def test_awkward_messages_verify_with_each_signer(mta, keys, signer, canon):
    """Folded Subject with tabs, whitespace-only trailing lines, an empty
    body and a 100 KB body, through Postfix, verified by dkimpy."""
    mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]},
                          extra=f'[dkim]\nsigner = "{signer}"\ncanonicalization = "{canon}"\n'))
    long_body = "".join(f"line {i:05d} " + "abc  def\t" * (i % 9) + "\n" for i in range(2400))
    assert len(long_body) > 100_000
    msgs = [
        h.make_message("alice@example.com", RCPT, "folded\r\n\twith\ttabs \r\n   and  runs\t", "Body.\n"),
        h.make_message("alice@example.com", RCPT, "trailing", "text  \n\t\n   \n\n \t \n\n"),
        h.make_message("alice@example.com", RCPT, "long", long_body),
    ]
    # An empty body: the header block and its blank line, nothing after.
    empty = h.make_message("alice@example.com", RCPT, "empty", "x\n")
    msgs.append(empty[:empty.index(b"\r\n\r\n") + 4])
    for m in msgs:
        code, _ = mta.send(m, mail_from="alice@example.com")
        assert code == 250
    got = {h.message_id(d): d for d in mta.sink.wait_count(len(msgs), 30)}
    assert len(got) == len(msgs)
    for m in msgs:
        d = got[h.message_id(m)]
        results = h.dkim_verify_each(d, keys.txt)
        assert sorted(r["a"] for r in results) == ["ed25519-sha256", "rsa-sha256"], results
        assert [s["c"] for s in h.dkim_signatures(d)] == [canon, canon]
        for r in results:
            if signer == "opendkim" and canon.startswith("simple/") and r["a"] == "ed25519-sha256":
                # libopendkim 2.11 hashes an Ed25519 signature's own header
                # with another folding than it emits: under simple header
                # canonicalisation it does not verify (unit test "native
                # signatures are byte-identical to libopendkim's"); dkimpy
                # says the same here).
                continue
            assert r["ok"], (m[:200], d.decode(errors="replace")[:1500], results)
