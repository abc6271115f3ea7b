"""A store that fails (#9.3): the file-size limit of the sesmilter process is
set below the end of its LMDB data file, so every write transaction fails
(EFBIG) while reads still work -- the shape of a full disk.

With on_error = "tempfail" each message gets 451 4.3.0 and stays with the
client.  With on_error = "accept" warm-up is skipped (logged at warning) but
every message is still delivered DKIM-signed: only a signing failure may
pass a message unsigned."""

import os
import re

import pytest

import harness as h

FROM = "alice@example.com"
RCPT = "rcpt@remote.test"
N = 10

# A generous plan: no message is held, each one is counted (a store write).
PLAN = 'ses.on("daily_limit", function(identity) return 100000 end)\n'


def failing_store_milter(mta, keys, sesmilter_bin, on_error):
    script = mta.dir / "plan.lua"
    script.write_text(PLAN)
    extra = f"""
[store]
path = "{mta.dir / 'store'}"

[policy]
script = "{script}"

[warmup]
enabled = true
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
"""
    cfg = mta.config({"example.com": [keys.rsa]}, on_error=on_error, extra=extra)
    # A first run creates the store and its tables; it must then be larger
    # than the limit below.
    first = mta.milter(cfg)
    first.stop()
    data = mta.dir / "store" / "data.mdb"
    assert data.stat().st_size > 8192
    # The wrapper starts the log copier before the limit, so the log file is
    # not limited; SIGXFSZ is ignored so a refused write is an error (EFBIG),
    # not the end of the process.  8 KiB keeps LMDB's two meta pages only.
    wrapper = mta.dir / "sesmilter-fsize"
    wrapper.write_text("#!/bin/bash\n"
                       "exec > >(exec cat) 2>&1\n"
                       "trap '' XFSZ\n"
                       "ulimit -f 8\n"
                       f'exec "{sesmilter_bin}" "$@"\n')
    wrapper.chmod(0o755)
    m = h.Sesmilter(wrapper, cfg, mta.dir)
    mta.milters.append(m)
    m.start()
    return m


def send_all(mta):
    out = []
    for i in range(N):
        msg = h.make_message(FROM, RCPT, f"store failure {i}", f"message {i}\n")
        try:
            out.append((mta.send(msg, mail_from=FROM)[0], ""))
        except h.SMTPReplyError as e:
            out.append((e.smtp_code, e.text))
    return out


def test_tempfail_keeps_mail_with_the_client(mta, keys, sesmilter_bin):
    m = failing_store_milter(mta, keys, sesmilter_bin, "tempfail")
    replies = send_all(mta)
    assert all(code == 451 and "4.3.0" in text for code, text in replies), replies
    mta.postfix.wait_queue_empty(20)
    assert mta.sink.count() == 0
    log = m.log()
    assert len(re.findall(r"error: \S+: internal error \(on_error=tempfail\): warm-up: store: ", log)) >= N, log[-3000:]


def test_accept_delivers_signed_without_warmup(mta, keys, sesmilter_bin):
    m = failing_store_milter(mta, keys, sesmilter_bin, "accept")
    replies = send_all(mta)
    assert [code for code, _ in replies] == [250] * N, replies
    got = mta.sink.wait_count(N, 30)
    assert len(got) == N
    for msg in got:
        assert h.dkim_signatures(msg), msg[:500]
        assert h.dkim_verify(msg, keys.txt)
    log = m.log()
    skipped = re.findall(r"warning: \S+: accept: .*warmup=skipped .*dkim=signed d=example.com", log)
    assert len(skipped) == N, log[-3000:]
    assert "passed unchanged and unsigned" not in log
