"""The installed Debian package, through a private Postfix: the packaged
daemon (/usr/sbin/sesmilter) started as root with the packaged
configuration drops to the sesmilter user and signs mail on the socket the
installed docs name (/var/spool/postfix/sesmilter/milter.sock).

Run by `make deb-check` (packaging/deb-check.sh) after `apt-get install
./sesmilter_*.deb`; skipped unless SESMILTER_PACKAGE_TEST=1."""

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

import harness as h

pytestmark = pytest.mark.skipif(os.environ.get("SESMILTER_PACKAGE_TEST") != "1",
                                reason="set SESMILTER_PACKAGE_TEST=1 with the package installed")

SBIN = Path("/usr/sbin/sesmilter")
SESCTL = Path("/usr/bin/sesctl")
CONF = Path("/etc/sesmilter/sesmilter.toml")
SOCKET = Path("/var/spool/postfix/sesmilter/milter.sock")


def test_packaged_daemon_signs_as_sesmilter_through_postfix(tmp_path):
    pw = pwd.getpwnam("sesmilter")
    work = h.make_root("package")
    # A key made as operations.md says: in /etc/sesmilter/keys, owned by sesmilter.
    out = subprocess.run([str(SESCTL), "dkim", "keygen", "--domain", "example.com", "--selector", "pk1",
                          "--algorithm", "rsa", "--out", "/etc/sesmilter/keys", "--json"],
                         check=True, capture_output=True, text=True).stdout
    key = json.loads(out)
    os.chown(key["key_file"], pw.pw_uid, pw.pw_gid)
    os.chmod(key["key_file"], 0o600)

    # The packaged configuration, with the domain added (as the operator would).
    cfg = CONF.read_text() + (f'\n[[domain]]\nname = "example.com"\n'
                              f'dkim = [ {{ selector = "pk1", key = "{key["key_file"]}" }} ]\n')
    sink = h.Sink(work / "sink", h.free_port()).start()
    pf = h.Postfix(work / "postfix", h.free_port(), sink.port, milter=f"unix:{SOCKET}").start()
    milter = h.Sesmilter(SBIN, cfg, work)
    try:
        milter.start()
        milter.wait_log(r"dropped privileges: running as sesmilter")
        with open(f"/proc/{milter.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        assert status["Uid"].split() == [str(pw.pw_uid)] * 4
        assert SOCKET.stat().st_gid == pwd.getpwnam("postfix").pw_gid

        msg = h.make_message("alice@example.com", "rcpt@remote.test", "package", "from the package\n")
        assert h.send(pf.smtpd_port, "alice@example.com", ["rcpt@remote.test"], msg)[0] == 250
        got = sink.wait_count(1, 30)
        assert h.dkim_verify(got[0], {key["dns_name"]: key["txt"]})

        # SIGHUP after the drop (systemctl reload): the key is readable by the user.
        offset = len(milter.log())
        milter.hup()
        milter.wait_log(r"reload: configuration and keys reloaded", start=offset)
    finally:
        milter.stop()
        pf.stop()
        sink.stop()
        os.unlink(key["key_file"])
        shutil.rmtree(work, ignore_errors=True)
