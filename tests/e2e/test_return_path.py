"""The return path through a real Postfix: outbound mail of an identity with
a return_path_domain leaves with MAIL FROM:<TAG@bounce.example.com> and a
valid DKIM signature; a DSN and an ARF complaint sent back to the tag are
accepted (250), counted on the message record and discarded (nothing
reaches the sink), and so is an ARF to the CFBL-Address fbl@ (attributed by
the original's X-SES-Message-ID); a forged tag is refused at RCPT (550 5.1.1).

Postfix relays everything to the sink (mydestination is empty, the client
is in mynetworks): whatever sesmilter did not consume would arrive there."""

import json
import time
from pathlib import Path

import pytest

import harness as h

SENDER = "news@example.com"
RP = "bounce.example.com"
FEEDBACK = Path(__file__).resolve().parent.parent / "data" / "feedback"


def sesctl_json(milter, *args):
    cp = h.sesctl("-c", str(milter.config_path), *args, "--json")
    return json.loads(cp.stdout)


def status_of(milter, mid):
    return {e["To"]: e for e in sesctl_json(milter, "status", mid)["EmailStatusList"]}


def wait_field(milter, mid, rcpt, field, value, timeout=20.0):
    last = {}

    def done():
        nonlocal last
        last = status_of(milter, mid).get(rcpt, {})
        return last.get(field) == value

    try:
        h.wait_for(done, timeout, interval=0.3, what=f"{rcpt} {field}={value}")
    except h.HarnessError as e:
        raise h.HarnessError(f"{e}\nlast: {last}")
    return last


def send_tagged(mta, m, rcpt):
    start = len(m.log())
    msg = h.make_message(f"News <{SENDER}>", [rcpt], "November news", "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=[rcpt])
    assert code == 250
    match = m.wait_log(r" id=([a-z2-7]{26}) return_path=(\S+@" + RP.replace(".", r"\.") + ")", 20, start=start)
    return match.group(1), match.group(2)


def test_return_path_tags_consumes_feedback_and_refuses_forgeries(mta, keys):
    cfg = mta.config({"example.com": [keys.rsa]},
                     extra=f'[return_path]\nkeys = ["1:e2e-secret-0123456789"]\n')
    cfg = cfg.replace('name = "example.com"', f'name = "example.com"\nreturn_path_domain = "{RP}"')
    m = mta.milter(cfg)

    # Outbound: the sink sees the tag as envelope sender, and a signature.
    mid, tag = send_tagged(mta, m, "nobody@remote.test")
    got = mta.sink.wait_count(1, 30)
    deliveries = mta.sink.deliveries()
    assert len(deliveries) == 1
    assert tag in deliveries[0].mail_from, deliveries[0].mail_from
    # ENVID= given with smfi_chgfrom is kept by Postfix and sent on.
    assert f"ENVID={mid}" in deliveries[0].mail_from, deliveries[0].mail_from
    assert h.dkim_verify(got[0], keys.txt), got[0].decode()
    # RFC 9477: the complaint address and id, covered by the signature.
    assert f"CFBL-Address: fbl@{RP}".encode() in got[0], got[0].decode()
    assert f"CFBL-Feedback-ID: {mid}".encode() in got[0], got[0].decode()
    sig = got[0][got[0].find(b"DKIM-Signature:"):].split(b"\r\n\r\n")[0].lower()
    assert b"cfbl-address" in sig and b"cfbl-feedback-id" in sig, sig
    mta.sink.clear()

    # A DSN to the tag, with the null sender: 250, counted, discarded.
    dsn = (FEEDBACK / "postfix-failed.eml").read_bytes()
    dsn = dsn.replace(b"b1x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", tag.encode())
    dsn = dsn.replace(b"01jb5x8k2m9q3c4d5e6f7g8h9j", mid.encode())
    code, _ = mta.send(dsn, mail_from="", rcpts=[tag])
    assert code == 250
    st = wait_field(m, mid, "nobody@remote.test", "DeliverStatus", 3)
    assert "User unknown" in st["DeliverMessage"], st
    assert st["BounceType"] == "hard", st
    # The hard bounce from a DSN suppresses the address, like one from the log.
    listed = {e["Address"]: e for e in sesctl_json(m, "suppression", "list")["Suppressed"]}
    assert listed.get("nobody@remote.test", {}).get("Reason") == "hard_bounce", listed
    assert listed["nobody@remote.test"]["SourceMessageId"] == mid, listed

    # An ARF complaint to another message's tag marks it.
    mid2, tag2 = send_tagged(mta, m, "user@remote.test")
    mta.sink.wait_count(1, 30)
    mta.sink.clear()
    arf = (FEEDBACK / "arf-abuse.eml").read_bytes()
    arf = arf.replace(b"b5x7k2m9q3c4d5e6f7g8h9j0k1@bounce.example.com", tag2.encode())
    code, _ = mta.send(arf, mail_from="abusedesk@mail.example.net", rcpts=[tag2])
    assert code == 250
    wait_field(m, mid2, "user@remote.test", "UserComplainted", True)
    listed = {e["Address"]: e for e in sesctl_json(m, "suppression", "list")["Suppressed"]}
    assert listed.get("user@remote.test", {}).get("Reason") == "complaint", listed

    # An ARF to the CFBL-Address (fbl@): attributed by the original's id.
    mid3, _ = send_tagged(mta, m, "other@remote.test")
    mta.sink.wait_count(1, 30)
    mta.sink.clear()
    assert status_of(m, mid3)["other@remote.test"]["UserComplainted"] is False
    arf3 = (FEEDBACK / "arf-abuse.eml").read_bytes()
    arf3 = arf3.replace(b"01jb5x8k2m9q3c4d5e6f7g8h9n", mid3.encode())
    arf3 = arf3.replace(b"<user@mail.example.net>", b"<other@remote.test>")
    code, _ = mta.send(arf3, mail_from="abusedesk@mail.example.net", rcpts=[f"fbl@{RP}"])
    assert code == 250
    wait_field(m, mid3, "other@remote.test", "UserComplainted", True)

    # A forged tag: refused at RCPT, never delivered.
    forged = ("bz" + tag[2:]) if tag[1] != "z" else ("by" + tag[2:])
    with pytest.raises(h.SMTPReplyError) as e:
        mta.send(dsn, mail_from="", rcpts=[forged])
    assert e.value.smtp_code == 550
    assert "5.1.1" in e.value.text, e.value.text

    # Nothing of the feedback reached the sink.
    mta.postfix.wait_queue_empty(20)
    time.sleep(1)
    assert mta.sink.count() == 0, [d.mail_from for d in mta.sink.deliveries()]
    assert "milter-discard" in mta.postfix.maillog
