"""SIGHUP reloads config and keys without a restart; a broken new config is
refused and the running one kept."""

import pytest

import harness as h

RCPT = "rcpt@remote.test"


def send_and_get(mta, from_addr):
    msg = h.make_message(from_addr, RCPT, "reload", "after reload\n")
    before = mta.sink.count()
    assert mta.send(msg, mail_from=from_addr)[0] == 250
    mta.sink.wait_count(before + 1, 20)
    got = [m for m in mta.sink.messages() if h.message_id(m) == h.message_id(msg)]
    assert len(got) == 1
    return got[0]


BROKEN = {
    # TOML syntax error
    "syntax": lambda good, keys: good.replace('on_error = "tempfail"', 'on_error = "tempfail'),
    # valid TOML, but the key file does not exist
    "missing_key": lambda good, keys: good.replace(keys.rsa["key_file"],
                                                   keys.rsa["key_file"] + ".gone"),
    # valid TOML, invalid value
    "bad_value": lambda good, keys: good.replace('max_message_size = "10MB"',
                                                 'max_message_size = "lots"'),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_hup_with_broken_config_keeps_old(mta, keys, kind):
    good = mta.config({"example.com": [keys.rsa]})
    milter = mta.milter(good)
    pid = milter.pid
    got = send_and_get(mta, "alice@example.com")
    assert h.dkim_verify(got, keys.txt)

    broken = BROKEN[kind](good, keys)
    assert broken != good
    offset = len(milter.log())
    milter.write_config(broken)
    milter.hup()
    milter.wait_log(r"reload refused", timeout=10, start=offset)

    assert milter.running() and milter.pid == pid
    for _ in range(2):
        got = send_and_get(mta, "alice@example.com")
        sigs = h.dkim_signatures(got)
        assert [s["s"] for s in sigs] == ["s1"], got.decode()
        assert h.dkim_verify(got, keys.txt)


def test_hup_with_new_domain_signs_it_without_restart(mta, keys):
    # example.net starts as an identity without a key (passes unsigned) ...
    milter = mta.milter(mta.config({"example.com": [keys.rsa], "example.net": []}))
    pid = milter.pid
    got = send_and_get(mta, "carol@example.net")
    assert h.header_values(got, "DKIM-Signature") == []
    # ... and a domain that is no identity at all is refused.
    with pytest.raises(h.SMTPReplyError) as e:
        send_and_get(mta, "mallory@example.org")
    assert e.value.smtp_code == 550 and "5.7.1" in e.value.text

    offset = len(milter.log())
    milter.write_config(mta.config({"example.com": [keys.rsa],
                                    "example.net": [keys.net]}))
    milter.hup()
    # sesmilter logs "reload: configuration and keys reloaded ..." once the
    # new configuration is in effect; the next message must be signed.
    milter.wait_log(r"reloaded", timeout=15, start=offset)
    got = send_and_get(mta, "carol@example.net")

    assert milter.running() and milter.pid == pid
    assert "reload refused" not in milter.log()[offset:]
    sigs = h.dkim_signatures(got)
    assert [(s["d"], s["s"]) for s in sigs] == [("example.net", "n1")]
    assert h.dkim_verify(got, keys.txt)
    # the domain configured before is still signed, by the same process
    got = send_and_get(mta, "alice@example.com")
    assert [(s["d"], s["s"]) for s in h.dkim_signatures(got)] == [("example.com", "s1")]
    assert h.dkim_verify(got, keys.txt)
    assert milter.pid == pid


POLICY_50 = 'ses.on("daily_limit", function(identity) return 50 end)\n'
POLICY_1 = 'ses.on("daily_limit", function(identity) return 1 end)\n'


def test_hup_with_new_script_and_broken_key_keeps_the_old_script(mta, keys):
    """All or nothing: a reload refused for a broken key must not leave the
    new policy script in place (it used to be installed before the keys
    were checked)."""
    script = mta.dir / "policy.lua"
    script.write_text(POLICY_50)
    extra = f"""
[store]
path = "{mta.dir}/store"

[policy]
script = "{script}"

[warmup]
enabled = true
time_zone = "UTC"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
"""
    good = mta.config({"example.com": [keys.rsa]}, extra=extra)
    milter = mta.milter(good)

    def held():
        return [q for q in mta.postfix.queue() if q.get("queue_name") == "hold"]

    script.write_text(POLICY_1)
    offset = len(milter.log())
    milter.write_config(good.replace(keys.rsa["key_file"], keys.rsa["key_file"] + ".gone"))
    milter.hup()
    milter.wait_log(r"reload refused", timeout=10, start=offset)

    # the running script (50 a day) still decides: nothing is held
    for i in range(3):
        msg = h.make_message("alice@example.com", RCPT, f"old script {i}", "kept\n")
        assert mta.send(msg, mail_from="alice@example.com")[0] == 250
    mta.sink.wait_count(3, 30)
    assert held() == [], "a refused reload put the new policy script in place"

    # the same script with a good configuration is taken: 1 a day, so the
    # next message is held
    offset = len(milter.log())
    milter.write_config(good)
    milter.hup()
    milter.wait_log(r"policy script reloaded", timeout=10, start=offset)
    msg = h.make_message("alice@example.com", RCPT, "new script", "held\n")
    assert mta.send(msg, mail_from="alice@example.com")[0] == 250
    h.wait_for(held, 15, what="a message in Postfix's hold queue")
    assert mta.sink.count() == 3


def test_hup_storm_reloads_and_never_stops(mta, keys):
    # libmilter's own signal thread sigwait()s for SIGHUP and stops the
    # milter when it gets one; the kernel hands a process-directed signal
    # to that thread whenever the preferred thread already has one pending,
    # which a burst makes likely.  Every SIGHUP must be a reload.
    import os
    import signal
    import time
    milter = mta.milter(mta.config({"example.com": [keys.rsa]}))
    pid = milter.pid
    # Several senders at once, so signals arrive while one is pending.
    senders = []
    for _ in range(4):
        child = os.fork()
        if child == 0:
            for _ in range(500):
                os.kill(pid, signal.SIGHUP)
            os._exit(0)
        senders.append(child)
    for child in senders:
        os.waitpid(child, 0)
    time.sleep(2)
    assert milter.running() and milter.pid == pid, milter.log()[-2000:]
    assert "ended by itself" not in milter.log()
    got = send_and_get(mta, "alice@example.com")
    assert h.dkim_verify(got, keys.txt)
