"""Type=notify without systemd: the test plays systemd's part, binding the
unix datagram socket named in NOTIFY_SOCKET, and checks that READY=1 comes
only once the milter socket accepts connections (and after the privilege
drop), and STOPPING=1 when a stop begins."""

import os
import socket
import subprocess
import time

import harness as h


def read_notifications(sock, until, timeout):
    """Datagrams until one contains `until`; returns them all."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(data)
        if until in data:
            return got
    raise AssertionError(f"no {until} within {timeout}s; got {got!r}")


def connects(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_ready_after_socket_accepts_then_stopping(e2e_root, sesmilter_bin, keys, tmp_path):
    work = h.make_root("notify")
    sock_path = work / "milter.sock"
    notify_path = work / "notify.sock"
    cfg = h.sesmilter_config(f"unix:{sock_path}", {"example.com": [keys.rsa]}, socket_owner="")
    cfg += f'\n[store]\npath = "{work}/store"\n'
    (work / "sesmilter.toml").write_text(cfg)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(notify_path))
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    log = open(work / "sesmilter.log", "wb")
    proc = subprocess.Popen([str(sesmilter_bin), "-f", "-c", str(work / "sesmilter.toml")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        got = read_notifications(ns, "READY=1", 15)
        # At the moment READY=1 arrives, the socket must already accept.
        assert connects(sock_path), "READY=1 before the milter socket accepts"
        ready = [g for g in got if "READY=1" in g][0]
        assert "STATUS=signing for 1 domains" in ready
        assert proc.poll() is None
        text = (work / "sesmilter.log").read_text()
        assert "started: socket" in text  # the log line comes before READY=1

        proc.terminate()
        got = read_notifications(ns, "STOPPING=1", 10)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
        ns.close()


def test_no_notify_socket_no_problem(e2e_root, sesmilter_bin, keys):
    """Without NOTIFY_SOCKET (not under systemd) start-up is unchanged."""
    work = h.make_root("notify-none")
    cfg = h.sesmilter_config(f"unix:{work / 'milter.sock'}", {"example.com": [keys.rsa]}, socket_owner="")
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    m = h.Sesmilter(sesmilter_bin, cfg, work, env=env).start()
    try:
        assert connects(work / "milter.sock")
    finally:
        assert m.stop() == 0


def test_journal_stream_lines_carry_levels(e2e_root, sesmilter_bin, keys):
    """With stderr on the journal (JOURNAL_STREAM names it), lines start with
    <N>, the syslog priority, so `journalctl -p warning` works."""
    work = h.make_root("notify-journal")
    cfg = h.sesmilter_config(f"unix:{work / 'milter.sock'}", {}, socket_owner="")
    logp = work / "sesmilter.log"
    # JOURNAL_STREAM must name stderr's device and inode, as systemd sets it.
    with open(logp, "wb") as log:
        st = os.fstat(log.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        m = h.Sesmilter(sesmilter_bin, cfg, work, env=env)
        m.log_path = logp
        m.start()
        try:
            m.wait_log(r"<5>notice: started: socket")
            text = m.log()
            assert "<4>warning: no [[domain]] has a DKIM key" in text
        finally:
            m.stop()
