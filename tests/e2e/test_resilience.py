"""sesmilter going away: Postfix (milter_default_action = tempfail) must answer
4xx, nothing may be delivered unsigned, and after a restart every message the
client retries is delivered exactly once, signed."""

import collections
import threading

import pytest

import harness as h

RCPT = "rcpt@remote.test"
FROM = "alice@example.com"


class Ledger:
    """What the client was told about each message, by Message-ID."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {}       # message-id -> bytes
        self.accepted = []   # message-ids answered 250
        self.tempfailed = [] # message-ids answered 4xx
        self.other = []      # (message-id, error) anything else

    def send(self, mta, n_tag):
        msg = h.make_message(FROM, RCPT, f"msg {n_tag}", f"message {n_tag}\n" * 5)
        mid = h.message_id(msg)
        try:
            code, _ = mta.send(msg, mail_from=FROM)
            outcome = ("ok", code)
        except h.SMTPReplyError as e:
            outcome = ("4xx", e) if 400 <= e.smtp_code < 500 else ("other", e)
        except OSError as e:
            outcome = ("other", e)
        with self.lock:
            self.msgs[mid] = msg
            if outcome[0] == "ok":
                self.accepted.append(mid)
            elif outcome[0] == "4xx":
                self.tempfailed.append(mid)
            else:
                self.other.append((mid, outcome[1]))
        return outcome


def resend_and_check(mta, milter, keys, ledger):
    """Restart the milter, resend what was tempfailed, check the sink."""
    milter.start()
    for mid in list(ledger.tempfailed):
        code, _ = mta.send(ledger.msgs[mid], mail_from=FROM)
        assert code == 250, (mid, code)
    total = len(ledger.accepted) + len(ledger.tempfailed)
    mta.sink.wait_count(total, 60)
    mta.postfix.wait_queue_empty(30)
    msgs = mta.sink.messages()
    counts = collections.Counter(h.message_id(m) for m in msgs)
    expected = set(ledger.accepted) | set(ledger.tempfailed)
    dupes = {k: v for k, v in counts.items() if v != 1}
    assert not dupes, f"delivered more than once: {dupes}"
    assert set(counts) == expected, (
        f"missing: {expected - set(counts)}; unexpected: {set(counts) - expected}")
    for m in msgs:
        res = h.dkim_verify_each(m, keys.txt)
        assert res and all(r["ok"] for r in res), (h.message_id(m), res)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_milter_down_tempfails_then_resend_delivers_once(mta, keys, how):
    milter = mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}))
    ledger = Ledger()
    for i in range(5):
        assert ledger.send(mta, f"before-{i}")[0] == "ok"
    mta.sink.wait_count(5, 20)

    if how == "sigterm":
        rc = milter.stop()
        assert rc == 0, f"sesmilter exited {rc} on SIGTERM\n{milter.log()}"
    else:
        milter.kill9()
        # the stale socket stays behind: the restart must cope with it
    for i in range(5):
        outcome = ledger.send(mta, f"down-{i}")
        assert outcome[0] == "4xx", outcome
    assert not ledger.other
    assert len(ledger.tempfailed) == 5
    # nothing was queued for the tempfailed mail
    assert mta.postfix.queue() == []
    assert "milter" in mta.postfix.maillog.lower()

    resend_and_check(mta, milter, keys, ledger)


def test_milter_killed_under_load(mta, keys):
    """Two clients send continuously while sesmilter is SIGKILLed."""
    milter = mta.milter(mta.config({"example.com": [keys.rsa, keys.ed]}))
    ledger = Ledger()
    stop = threading.Event()

    def client(w):
        i = 0
        while not stop.is_set():
            ledger.send(mta, f"w{w}-{i}")
            i += 1

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(2)]
    for t in threads:
        t.start()
    try:
        h.wait_for(lambda: len(ledger.accepted) >= 20, 60, what="20 accepted messages")
        milter.kill9()
        h.wait_for(lambda: len(ledger.tempfailed) >= 6, 60, what="6 tempfailed messages")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not ledger.other, ledger.other
    resend_and_check(mta, milter, keys, ledger)
