"""Start-up tells the truth: whatever keeps sesmilter from serving (socket
directory, pid file, Lua script, keys, a running instance) is a message on
stderr and a non-zero exit, in the foreground and as a daemon; runtime
directories are created."""

import os
import signal
import stat
import subprocess
import time

import pytest

import harness as h


def write_config(d, keys, socket=None, extra=""):
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    text = h.sesmilter_config(f"unix:{socket or d / 'milter.sock'}", {"example.com": [keys.rsa]},
                              extra=extra)
    if "[store]" not in text:
        text += f'\n[store]\npath = "{d}/store"\n'
    path = d / "sesmilter.toml"
    path.write_text(text)
    return path


def run(binary, path, *args, timeout=30):
    return subprocess.run([str(binary), "-c", str(path), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def wait_gone(pid, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not h._pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


class Daemon:
    """A sesmilter started without -f; stopped by the pid it wrote."""

    def __init__(self, binary, path, pidfile):
        self.binary, self.path, self.pidfile = binary, path, pidfile
        self.pids = []

    def start(self):
        cp = run(self.binary, self.path)
        if cp.returncode == 0:
            self.pids.append(int(self.pidfile.read_text().strip()))
        return cp

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            if not wait_gone(pid):
                os.kill(pid, signal.SIGKILL)
        self.pids = []


@pytest.fixture
def daemons():
    made = []

    def make(*a):
        d = Daemon(*a)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def test_missing_socket_and_pid_directories_are_created(sesmilter_bin, keys, e2e_root, daemons):
    d = e2e_root / "startup_dirs"
    sock = d / "run" / "deeper" / "milter.sock"
    pidfile = d / "pid" / "sub" / "sesmilter.pid"
    # pidfile lives in [daemon], which sesmilter_config already opened
    text = h.sesmilter_config(f"unix:{sock}", {"example.com": [keys.rsa]})
    text = text.replace("[daemon]\n", f'[daemon]\npidfile = "{pidfile}"\n', 1)
    text += f'\n[store]\npath = "{d}/store"\n'
    d.mkdir(exist_ok=True)
    d.chmod(0o755)
    path = d / "sesmilter.toml"
    path.write_text(text)

    daemon = daemons(sesmilter_bin, path, pidfile)
    cp = daemon.start()
    assert cp.returncode == 0, cp.stderr
    assert stat.S_ISSOCK(sock.stat().st_mode)
    # handed to the socket owner, so that Postfix can reach the socket
    assert sock.parent.stat().st_uid == h.postfix_uid_gid()[0]
    pid = int(pidfile.read_text())
    assert h._pid_alive(pid)
    daemon.stop()
    assert not pidfile.exists(), "the pid file is removed at a clean stop"


def test_missing_lua_script_fails_in_foreground_and_as_daemon(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "startup_lua"
    missing = d / "no-such-policy.lua"
    path = write_config(d, keys, extra=f'[policy]\nscript = "{missing}"\n')
    for args in (["-f"], []):
        cp = run(sesmilter_bin, path, *args)
        assert cp.returncode != 0, (args, cp.stdout, cp.stderr)
        assert str(missing) in cp.stderr, (args, cp.stderr)
    assert not (d / "milter.sock").exists(), "no socket is left behind"
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode != 0 and str(missing) in cp.stderr, cp.stdout + cp.stderr


def test_daemon_failure_after_fork_is_the_exit_status(sesmilter_bin, keys, e2e_root):
    # A socket directory anyone may write to is found only by the daemon
    # (after the fork); the command still exits non-zero with the reason.
    d = e2e_root / "startup_daemon_fail"
    shared = d / "shared"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    path = write_config(d, keys, socket=shared / "milter.sock")
    text = path.read_text().replace("[daemon]\n", f'[daemon]\npidfile = "{d}/sesmilter.pid"\n', 1)
    path.write_text(text)
    cp = run(sesmilter_bin, path, timeout=20)
    assert cp.returncode != 0, cp.stderr
    assert "writable by everyone" in cp.stderr and str(shared) in cp.stderr, cp.stderr
    assert not (d / "sesmilter.pid").exists()


def test_world_writable_socket_directory_refused_sticky_warned(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "startup_world_writable"
    open_dir = d / "open"
    open_dir.mkdir(parents=True)
    open_dir.chmod(0o777)
    path = write_config(d, keys, socket=open_dir / "milter.sock")
    cp = run(sesmilter_bin, path, "-f")
    assert cp.returncode != 0
    assert "writable by everyone" in cp.stderr and "sticky" in cp.stderr, cp.stderr
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode != 0 and "writable by everyone" in cp.stderr, cp.stdout + cp.stderr

    open_dir.chmod(0o1777)
    m = h.Sesmilter(sesmilter_bin, path.read_text(), d / "sticky")
    m.start()
    try:
        assert "writable by everyone (sticky bit set)" in m.log()
    finally:
        assert m.stop() == 0


def test_second_instance_is_refused_foreground(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "startup_second_fg"
    path = write_config(d, keys)
    first = h.Sesmilter(sesmilter_bin, path.read_text(), d / "first")
    first.start()
    try:
        before = (d / "milter.sock").stat().st_ino
        cp = run(sesmilter_bin, path, "-f", timeout=20)
        assert cp.returncode != 0
        assert "already running" in cp.stderr, cp.stderr
        assert first.running()
        assert (d / "milter.sock").stat().st_ino == before, "the first instance keeps its socket"
        # --check-config is run beside the daemon it checks: not an error
        cp = h.check_config(sesmilter_bin, path)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    finally:
        assert first.stop() == 0


def test_second_daemon_is_refused_naming_the_running_pid(sesmilter_bin, keys, e2e_root, daemons):
    d = e2e_root / "startup_second_daemon"
    path = write_config(d, keys)
    pidfile = d / "sesmilter.pid"
    path.write_text(path.read_text().replace("[daemon]\n", f'[daemon]\npidfile = "{pidfile}"\n', 1))
    daemon = daemons(sesmilter_bin, path, pidfile)
    cp = daemon.start()
    assert cp.returncode == 0, cp.stderr
    pid = daemon.pids[0]
    # a second one on another socket still shares the pid file: refused
    other = d / "other.toml"
    other.write_text(path.read_text().replace(str(d / "milter.sock"), str(d / "other.sock")))
    cp = run(sesmilter_bin, other)
    assert cp.returncode != 0
    assert f"already running (pid {pid}" in cp.stderr, cp.stderr
    assert h._pid_alive(pid) and int(pidfile.read_text()) == pid


def test_check_config_warns_when_nothing_is_signed(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "startup_signs_nothing"
    d.mkdir(exist_ok=True)
    path = d / "nothing.toml"
    path.write_text(h.sesmilter_config(f"unix:{d}/milter.sock", {"example.com": []}) +
                    f'\n[store]\npath = "{d}/store"\n')
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 0, cp.stderr
    assert "signs nothing" in cp.stdout, cp.stdout
