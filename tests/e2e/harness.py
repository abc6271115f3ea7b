"""harness.py -- run real mail software on loopback for sesmilter's tests.

Used by the end-to-end suite (tests/e2e), the benchmarks (bench/run.py) and
the demo (examples/demo.py).  Everything here talks to 127.0.0.1 only, every
process is started by this module and stopped by its PID, and every helper
raises HarnessError with the relevant log excerpt when something does not come
up.  Run it with Debian's /usr/bin/python3 (it has the `dkim` module).

    root = make_root("demo")                      # world-traversable temp dir
    sink = Sink(root / "sink", free_port()).start()
    pf = Postfix(root / "postfix", free_port(), sink.port,
                 milter="unix:" + str(root / "milter.sock")).start()
    ...
    pf.stop(); sink.stop()

Postfix's own daemons run as user `postfix`: every directory they must reach
(the sink's output directory, the milter socket's directory) has to be
traversable by that user, which /tmp/pytest-of-root (mode 0700) is not.
make_root() and check_traversable() take care of that.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import re
import signal
import smtplib
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
DEFAULT_BINARY = BUILD / "sesmilter"
DEFAULT_SESCTL = BUILD / "sesctl"
LOOPBACK = "127.0.0.1"


class HarnessError(RuntimeError):
    """A test component did not start, stop or answer as expected."""


# --------------------------------------------------------------------------
# process bookkeeping: everything we start is stopped by PID, even on crash

_live_lock = threading.Lock()
_live: dict[int, object] = {}


def _register(obj) -> None:
    with _live_lock:
        _live[id(obj)] = obj


def _unregister(obj) -> None:
    with _live_lock:
        _live.pop(id(obj), None)


def stop_all() -> None:
    """Stop every component this process started and has not stopped yet."""
    with _live_lock:
        objs = list(_live.values())
    for obj in reversed(objs):
        try:
            obj.stop()
        except Exception:  # best effort at teardown
            pass


atexit.register(stop_all)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still answers kill(0)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Direct children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _wait_gone(pids, timeout: float) -> list[int]:
    """Wait until all pids are gone; return the ones still alive."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _pid_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _pid_alive(p)]
    return left


def _kill_pids(pids, sig) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def _tail(text: str, n: int = 40) -> str:
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# small utilities

_ports_lock = threading.Lock()
_ports_given: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (never the same one twice)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        with _ports_lock:
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise HarnessError("no free TCP port on 127.0.0.1")


def wait_port(port: int, timeout: float = 10.0, host: str = LOOPBACK) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise HarnessError(f"nothing listens on {host}:{port} after {timeout}s")
            time.sleep(0.05)


def wait_for(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll pred() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def postfix_uid_gid() -> tuple[int, int]:
    pw = pwd.getpwnam("postfix")
    return pw.pw_uid, pw.pw_gid


def check_traversable(path, user: str = "postfix") -> None:
    """Raise HarnessError unless `user` can reach `path` (x on every ancestor)."""
    pw = pwd.getpwnam(user)
    p = Path(path).resolve()
    for d in [p, *p.parents]:
        if not d.exists():
            continue
        st = d.stat()
        if not stat.S_ISDIR(st.st_mode):
            continue
        if st.st_uid == pw.pw_uid and st.st_mode & stat.S_IXUSR:
            continue
        if st.st_gid == pw.pw_gid and st.st_mode & stat.S_IXGRP:
            continue
        if st.st_mode & stat.S_IXOTH:
            continue
        raise HarnessError(
            f"{d} (mode {stat.filemode(st.st_mode)}) is not traversable by user "
            f"{user}; Postfix daemons and smtp-sink cannot reach {p}. "
            f"Use harness.make_root() or chmod o+x it.")


def make_root(prefix: str = "sesmilter") -> Path:
    """A fresh directory under /tmp that user postfix can traverse (mode 0755)."""
    d = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
    d.chmod(0o755)
    check_traversable(d)
    return d


def _run(cmd, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
    cp = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, timeout=timeout, **kw)
    if check and cp.returncode != 0:
        raise HarnessError(f"{' '.join(map(str, cmd))} exited {cp.returncode}\n"
                           f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
    return cp


# --------------------------------------------------------------------------
# Postfix

_MASTER_CF = """\
# generated by tests/e2e/harness.py -- chroot n everywhere, loopback only
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance under root_dir, relaying everything to
    [127.0.0.1]:relay_port, listening on 127.0.0.1:smtpd_port.

    extra_main_cf: dict (merged over the defaults) or str (appended).
    extra_master_cf: str appended to master.cf.
    """

    def __init__(self, root_dir, smtpd_port: int, relay_port: int, milter=None,
                 extra_main_cf=None, extra_master_cf=None):
        self.root = Path(root_dir).resolve()
        self.smtpd_port = smtpd_port
        self.relay_port = relay_port
        self.milter = milter
        self.etc = self.root / "etc"
        self.queue_dir = self.root / "queue"
        self.data_dir = self.root / "data"
        self.maillog_path = self.root / "maillog"
        self.master_pid = None
        self._extra_main_cf = extra_main_cf
        self._extra_master_cf = extra_master_cf
        self.settings = self._default_settings()
        if isinstance(extra_main_cf, dict):
            self.settings.update({k: str(v) for k, v in extra_main_cf.items()})
        self._write_config()

    # ---- configuration
    def _default_settings(self) -> dict:
        s = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mta.sesmilter.test",
            "mydomain": "sesmilter.test",
            "myorigin": "$myhostname",
            "inet_interfaces": LOOPBACK,
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": f"[{LOOPBACK}]:{self.relay_port}",
            "smtp_bind_address": LOOPBACK,
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "smtputf8_enable": "no",
            "in_flow_delay": "0",
            "smtpd_peername_lookup": "no",
            # loopback clients would otherwise get a missing From:/Date:/
            # Message-ID: added by cleanup before the milter sees the message
            "local_header_rewrite_clients": "",
            "always_add_missing_headers": "no",
            "biff": "no",
            "append_dot_mydomain": "no",
            "maillog_file": str(self.maillog_path),
            "maillog_file_prefixes": f"{self.root}/",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            # deferred mail is retried quickly in tests; flush() forces it
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "30s",
            "smtp_connect_timeout": "5s",
        }
        if self.milter:
            s["smtpd_milters"] = self.milter
            s["non_smtpd_milters"] = self.milter
        return s

    def _write_config(self) -> None:
        for d in (self.root, self.etc, self.queue_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        uid, gid = postfix_uid_gid()
        os.chown(self.data_dir, uid, gid)
        main = "# generated by tests/e2e/harness.py\n" + "".join(
            f"{k} = {v}\n" for k, v in self.settings.items())
        if isinstance(self._extra_main_cf, str):
            main += self._extra_main_cf.rstrip("\n") + "\n"
        (self.etc / "main.cf").write_text(main)
        master = _MASTER_CF.format(listen=f"{LOOPBACK}:{self.smtpd_port}")
        if self._extra_master_cf:
            master += self._extra_master_cf.rstrip("\n") + "\n"
        (self.etc / "master.cf").write_text(master)

    @property
    def config_dir(self) -> str:
        """Absolute path for `-c` (a relative one makes reload a no-op)."""
        return str(self.etc)

    def postconf(self, *args, **settings) -> str:
        """postconf -c DIR ARGS; keyword args are set with -e (then reload())."""
        if settings:
            _run(["postconf", "-c", self.config_dir, "-e",
                  *[f"{k}={v}" for k, v in settings.items()]])
            self.settings.update({k: str(v) for k, v in settings.items()})
        if args:
            return _run(["postconf", "-c", self.config_dir, *args]).stdout
        return ""

    # ---- lifecycle
    def _postfix(self, *args, check=True) -> subprocess.CompletedProcess:
        return _run(["postfix", "-c", self.config_dir, *args], check=check)

    def check(self) -> None:
        """postfix check; on failure show why (it only logs to syslog otherwise)."""
        cp = self._postfix("check", check=False)
        if cp.returncode != 0:
            why = _run(["script", "-qc", f"postfix -c {self.config_dir} check",
                        "/dev/null"], check=False)
            raise HarnessError(f"postfix check failed for {self.config_dir}:\n"
                               f"{why.stdout}{why.stderr}{cp.stderr}")

    def start(self, timeout: float = 20.0) -> "Postfix":
        self.check()
        # postfix-script would repeat the (slow) checks we just ran
        (self.queue_dir / "quick-start").touch()
        cp = self._postfix("start", check=False)
        if cp.returncode != 0:
            why = _run(["script", "-qc", f"postfix -c {self.config_dir} start",
                        "/dev/null"], check=False)
            raise HarnessError(f"postfix start failed:\n{why.stdout}{cp.stderr}\n"
                               f"maillog:\n{_tail(self.maillog)}")
        pidfile = self.queue_dir / "pid" / "master.pid"
        try:
            wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(),
                     timeout, what=f"{pidfile}")
            self.master_pid = int(pidfile.read_text().split()[0])
        except HarnessError:
            raise HarnessError(f"postfix master did not write {pidfile}\n"
                               f"maillog:\n{_tail(self.maillog)}")
        _register(self)
        try:
            wait_port(self.smtpd_port, timeout)
        except HarnessError as e:
            self.stop()
            raise HarnessError(f"{e}\nmaillog:\n{_tail(self.maillog)}")
        return self

    def running(self) -> bool:
        return self.master_pid is not None and _pid_alive(self.master_pid)

    def stop(self, timeout: float = 15.0) -> None:
        if self.master_pid is None:
            return
        pid = self.master_pid
        kids = _children(pid)
        if _pid_alive(pid):
            self._postfix("stop", check=False)
        left = _wait_gone([pid], timeout)
        if left:
            _kill_pids(left, signal.SIGKILL)
            _wait_gone(left, 5)
        # daemons that outlived their master (they normally exit with it)
        kids = [k for k in kids if _pid_alive(k)]
        left = _wait_gone(kids, 3)
        _kill_pids(left, signal.SIGKILL)
        _wait_gone(left, 5)
        self.master_pid = None
        _unregister(self)

    def reload(self) -> None:
        self._postfix("reload")

    def flush(self) -> None:
        self.postqueue("-f")

    # ---- queue and logs
    def postqueue(self, *args) -> str:
        return _run(["postqueue", "-c", self.config_dir, *args]).stdout

    def postsuper(self, *args) -> str:
        cp = _run(["postsuper", "-c", self.config_dir, *args])
        return cp.stdout + cp.stderr

    def postcat(self, queue_id: str) -> str:
        return _run(["postcat", "-c", self.config_dir, "-hbq", queue_id]).stdout

    def queue(self) -> list[dict]:
        """The queue as a list of `postqueue -j` records."""
        out = self.postqueue("-j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_queue_empty(self, timeout: float = 30.0) -> None:
        try:
            wait_for(lambda: not self.queue(), timeout, interval=0.2,
                     what="empty Postfix queue")
        except HarnessError:
            raise HarnessError(f"queue not empty after {timeout}s: "
                               f"{json.dumps(self.queue(), indent=1)}\n"
                               f"maillog:\n{_tail(self.maillog)}")

    @property
    def maillog(self) -> str:
        try:
            return self.maillog_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------
# smtp-sink: the next hop

class Delivery:
    """One message received by smtp-sink."""

    def __init__(self, path: Path, raw: bytes):
        self.path = path
        self.mail_from = None
        self.rcpts: list[str] = []
        self.client_addr = None
        lines = raw.split(b"\n")
        i = 0
        # smtp-sink's own records, then its three-line Received: header
        while i < len(lines):
            line = lines[i]
            if line.startswith(b"X-Client-Addr: "):
                self.client_addr = line[15:].decode()
            elif line.startswith(b"X-Mail-Args: "):
                self.mail_from = line[13:].decode()
            elif line.startswith(b"X-Rcpt-Args: "):
                self.rcpts.append(line[13:].decode())
            elif line.startswith((b"X-Client-Proto: ", b"X-Helo-Args: ")):
                pass
            elif line.startswith(b"Received: ") and b"(smtp-sink)" in b"\n".join(lines[i:i + 3]):
                i += 1
                while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                    i += 1
                break
            else:
                break
            i += 1
        body = lines[i:]
        # the dump ends with one empty line after the message
        if len(body) >= 2 and body[-1] == b"" and body[-2] == b"":
            body = body[:-1]
        # smtp-sink strips CR; SMTP carried CRLF, so put it back
        self.message = b"\r\n".join(body)
        if not self.message.endswith(b"\r\n"):
            self.message += b"\r\n"

    def __repr__(self):
        return f"<Delivery {self.path.name} from={self.mail_from} rcpts={self.rcpts}>"


class Sink:
    """smtp-sink on 127.0.0.1:port writing one file per message into dir."""

    def __init__(self, dir, port: int, backlog: int = 1000, extra_args=(), dump: bool = True):
        """dump=False: no file per message (count with Postfix's maillog)."""
        self.dump = dump
        self.dir = Path(dir).resolve()
        self.port = port
        self.backlog = backlog
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = self.dir.parent / f"{self.dir.name}.log"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 10.0) -> "Sink":
        self.dir.mkdir(parents=True, exist_ok=True)
        uid, gid = postfix_uid_gid()
        os.chown(self.dir, uid, gid)
        self.dir.chmod(0o755)
        check_traversable(self.dir)
        # %H%M%S. plus smtp-sink's random hex suffix: unique enough for benchmarks
        dump = ["-d", f"{self.dir}/%H%M%S."] if self.dump else []
        cmd = ["smtp-sink", "-u", "postfix", *self.extra_args, *dump,
               f"{LOOPBACK}:{self.port}", str(self.backlog)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        _register(self)
        try:
            wait_for(lambda: self.proc.poll() is not None or _port_open(self.port),
                     timeout, what=f"smtp-sink on port {self.port}")
        except HarnessError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            self.stop()
            raise HarnessError(f"smtp-sink exited at start: {self.log_path.read_text()}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.proc = None
        _unregister(self)

    def _open_files(self) -> set[str]:
        """Dump files smtp-sink still has open (transaction in progress)."""
        if not self.proc:
            return set()
        out = set()
        fd_dir = f"/proc/{self.proc.pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    out.add(os.readlink(f"{fd_dir}/{fd}"))
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def deliveries(self) -> list[Delivery]:
        """Completed deliveries, oldest first.

        smtp-sink creates a dump file when a transaction starts and writes to
        it until the end of DATA.  A file counts once smtp-sink no longer has
        it open and its size did not change since we read it (so what we read
        is what it wrote)."""
        if not self.dir.exists():
            return []
        read = []
        for p in self.dir.iterdir():
            try:
                raw = p.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            read.append((p, raw))
        busy = self._open_files()
        items = []
        for p, raw in read:
            if not raw or str(p) in busy:
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if st.st_size != len(raw):
                continue
            items.append((st.st_mtime_ns, p.name, p, raw))
        items.sort(key=lambda t: (t[0], t[1]))
        return [Delivery(p, raw) for _, _, p, raw in items]

    def messages(self) -> list[bytes]:
        """The delivered messages (CRLF line ends, smtp-sink's records removed)."""
        return [d.message for d in self.deliveries()]

    def count(self) -> int:
        """Number of completed deliveries."""
        return len(self.deliveries())

    def wait_count(self, n: int, timeout: float = 30.0) -> list[bytes]:
        """Wait until at least n messages arrived; return all messages."""
        got = []

        def enough():
            got[:] = self.deliveries()
            return len(got) >= n
        try:
            wait_for(enough, timeout, interval=0.05,
                     what=f"{n} message(s) at smtp-sink")
        except HarnessError:
            raise HarnessError(f"smtp-sink has {len(got)} of {n} messages after "
                               f"{timeout}s")
        return [d.message for d in got]

    def clear(self) -> None:
        for p in self.dir.iterdir():
            if p.is_file():
                p.unlink()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# sesmilter

_SOCKET_RE = re.compile(r'^\s*socket\s*=\s*"([^"]+)"', re.M)
_SOCKET_OWNER_RE = re.compile(r'^\s*socket_owner\s*=\s*"([^"]*)"', re.M)


def socket_path_of(spec: str):
    """unix:/path, local:/path or /path -> Path; inet specs -> None."""
    if spec.startswith(("unix:", "local:")):
        return Path(spec.split(":", 1)[1])
    if spec.startswith("/"):
        return Path(spec)
    return None


class Sesmilter:
    """The milter under test, run in the foreground (`-f`), stderr captured.

    config_text is written to workdir/sesmilter.toml; its [milter] socket must
    be a unix socket for start() to know when the daemon is ready (inet specs
    wait for the port instead).
    """

    def __init__(self, binary=None, config_text: str = "", workdir=None,
                 extra_args=(), env=None, config_name: str = "sesmilter.toml"):
        self.binary = Path(binary) if binary else DEFAULT_BINARY
        self.workdir = Path(workdir or make_root("sesmilter")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / config_name
        self.log_path = self.workdir / "sesmilter.log"
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self._logf = None
        self.write_config(config_text)

    # ---- config
    def write_config(self, text: str) -> None:
        """Replace the config file (takes effect at start() or hup()).

        A config without a [store] section gets one in the work directory,
        so no test touches the machine's /var/lib/sesmilter."""
        if "[store]" not in text:
            text = text.rstrip("\n") + f'\n\n[store]\npath = "{self.workdir}/store"\n'
        self.config_text = text
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)
        m = _SOCKET_RE.search(text)
        self.socket_spec = m.group(1) if m else None
        m = _SOCKET_OWNER_RE.search(text)
        self.socket_uid = None
        if m and m.group(1):
            try:
                self.socket_uid = pwd.getpwnam(m.group(1).split(":")[0]).pw_uid
            except KeyError:
                pass

    @property
    def socket_path(self):
        return socket_path_of(self.socket_spec) if self.socket_spec else None

    def check_config(self, path=None) -> subprocess.CompletedProcess:
        return check_config(self.binary, path or self.config_path)

    # ---- lifecycle
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> "Sesmilter":
        if not self.binary.exists():
            raise HarnessError(f"{self.binary} does not exist: build it with `make`")
        sock = self.socket_path
        before = None
        if sock is not None:
            try:
                st = sock.stat()
                before = (st.st_ino, st.st_ctime_ns)
            except FileNotFoundError:
                pass
        self._logf = open(self.log_path, "ab")
        self._log_offset = self._logf.tell()
        cmd = [str(self.binary), "-c", str(self.config_path), "-f", *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        _register(self)

        def ready():
            if self.proc.poll() is not None:
                return True
            if sock is None:
                port = _inet_port(self.socket_spec)
                return port is not None and _port_open(port)
            try:
                st = sock.stat()
            except FileNotFoundError:
                return False
            if not stat.S_ISSOCK(st.st_mode) or (st.st_ino, st.st_ctime_ns) == before:
                return False
            # ready for Postfix only once handed to socket_owner, if any
            return self.socket_uid is None or st.st_uid == self.socket_uid

        try:
            wait_for(ready, timeout, what=f"sesmilter socket {self.socket_spec}")
        except HarnessError:
            self.stop()
            raise HarnessError(f"sesmilter did not create {self.socket_spec} within "
                               f"{timeout}s\nlog:\n{_tail(self.log())}")
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.stop()
            raise HarnessError(f"sesmilter exited with {rc} at start-up\n"
                               f"command: {' '.join(cmd)}\nlog:\n{_tail(self.log())}")
        return self

    def stop(self, timeout: float = 10.0):
        """SIGTERM, wait, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self._close()
        return rc

    def kill9(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        rc = self.proc.returncode
        self._close()
        return rc

    def _close(self):
        self.last_returncode = self.proc.returncode if self.proc else None
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        _unregister(self)

    def hup(self) -> None:
        if not self.running():
            raise HarnessError("sesmilter is not running")
        self.proc.send_signal(signal.SIGHUP)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match:
        """Wait until the log (from offset `start`) matches the regex pattern."""
        rx = re.compile(pattern)
        try:
            return wait_for(lambda: rx.search(self.log()[start:]), timeout,
                            what=f"/{pattern}/ in {self.log_path}")
        except HarnessError as e:
            raise HarnessError(f"{e}\nlog:\n{_tail(self.log()[start:])}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _inet_port(spec):
    m = re.match(r"inet6?:(\d+)", spec or "")
    return int(m.group(1)) if m else None


def sesmilter_config(socket: str, domains=None, log_level: str = "debug",
                     on_error: str = "tempfail", max_message_size: str = "10MB",
                     socket_owner: str = "postfix:postfix", socket_mode=None,
                     extra: str = "") -> str:
    """A sesmilter TOML config.

    socket: "unix:/abs/path" (a bare absolute path gets "unix:" prepended).
    domains: {"example.com": [("s1", "/path/key.pem"), ...]} or
             {"example.com": [keygen_info_dict, ...]}.
    socket_owner: sesmilter runs as root here and its socket defaults to mode
             0660 owned by root, which Postfix's daemons (user postfix)
             cannot connect to; hand it to postfix.  "" leaves it out.
    extra: TOML text appended verbatim."""
    if socket.startswith("/"):
        socket = "unix:" + socket
    out = [
        "[daemon]",
        f'log_level = "{log_level}"',
        "",
        "[milter]",
        f'socket = "{socket}"',
        f'on_error = "{on_error}"',
        f'max_message_size = "{max_message_size}"',
    ]
    if socket_owner:
        out.append(f'socket_owner = "{socket_owner}"')
    if socket_mode:
        out.append(f'socket_mode = "{socket_mode}"')
    out.append("")
    for name, keys in (domains or {}).items():
        entries = []
        for k in keys:
            sel, path = (k["selector"], k["key_file"]) if isinstance(k, dict) else k
            entries.append(f'{{ selector = "{sel}", key = "{path}" }}')
        out += ["[[domain]]", f'name = "{name}"', f"dkim = [ {', '.join(entries)} ]", ""]
    if extra:
        out.append(extra.rstrip("\n"))
        out.append("")
    return "\n".join(out)


def check_config(binary, path) -> subprocess.CompletedProcess:
    """`sesmilter --check-config -c FILE` (never raises on a nonzero exit)."""
    return _run([binary or DEFAULT_BINARY, "--check-config", "-c", path], check=False)


def sesctl(*args, binary=None, check=True) -> subprocess.CompletedProcess:
    return _run([binary or DEFAULT_SESCTL, *args], check=check)


def keygen(domain: str, selector: str, algorithm: str, out_dir, bits=None,
           binary=None) -> dict:
    """`sesctl dkim keygen ... --json`: returns its JSON object
    {"domain","selector","algorithm","key_file","dns_name","txt"}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["dkim", "keygen", "--domain", domain, "--selector", selector,
            "--algorithm", algorithm, "--out", str(out_dir), "--json"]
    if bits:
        args += ["--bits", str(bits)]
    cp = sesctl(*args, binary=binary)
    try:
        info = json.loads(cp.stdout)
    except json.JSONDecodeError as e:
        raise HarnessError(f"sesctl dkim keygen printed no JSON ({e}):\n{cp.stdout}\n{cp.stderr}")
    return info


def keygen_openssl(domain: str, selector: str, algorithm: str, out_dir, bits=2048) -> dict:
    """Same result as keygen(), made with openssl (for tools without sesctl)."""
    import base64
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = out_dir / f"{domain}.{selector}.pem"
    if algorithm == "rsa":
        _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
              f"rsa_keygen_bits:{bits}", "-out", key])
    else:
        _run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key])
    key.chmod(0o600)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         stdout=subprocess.PIPE, check=True).stdout
    if algorithm == "rsa":
        txt = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    else:
        txt = "v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:]).decode()
    return {"domain": domain, "selector": selector, "algorithm": algorithm,
            "key_file": str(key), "dns_name": f"{selector}._domainkey.{domain}",
            "txt": txt}


# --------------------------------------------------------------------------
# SMTP client

class SMTPReplyError(smtplib.SMTPResponseException):
    """The server refused: .smtp_code, .smtp_error (bytes), .stage, .text."""

    def __init__(self, code, msg, stage):
        super().__init__(code, msg)
        self.stage = stage
        self.text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)

    def __str__(self):
        return f"{self.stage}: {self.smtp_code} {self.text}"


def _crlf(b: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


def send(port: int, mail_from: str, rcpts, msg_bytes: bytes, host: str = LOOPBACK,
         timeout: float = 60.0, helo: str = "client.sesmilter.test"):
    """Send one message over a new SMTP session.

    Returns (code, message) of the reply to the end of DATA (250 ...).
    Raises SMTPReplyError for any refusal (connect, EHLO, MAIL, RCPT or DATA),
    with .smtp_code, .text and .stage."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    if isinstance(msg_bytes, str):
        msg_bytes = msg_bytes.encode()
    msg_bytes = _crlf(msg_bytes)
    try:
        s = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
    except smtplib.SMTPConnectError as e:
        raise SMTPReplyError(e.smtp_code, e.smtp_error, "connect") from None
    except smtplib.SMTPServerDisconnected as e:
        raise SMTPReplyError(421, str(e).encode(), "connect") from None
    try:
        code, msg = s.ehlo()
        if code != 250:
            raise SMTPReplyError(code, msg, "ehlo")
        code, msg = s.mail(mail_from)
        if code != 250:
            raise SMTPReplyError(code, msg, "mail")
        ok = 0
        last = None
        for r in rcpts:
            code, msg = s.rcpt(r)
            if code in (250, 251):
                ok += 1
            else:
                last = (code, msg)
        if not ok:
            raise SMTPReplyError(last[0], last[1], "rcpt")
        code, msg = s.data(msg_bytes)
        if code != 250:
            raise SMTPReplyError(code, msg, "data")
        return code, msg.decode(errors="replace")
    except smtplib.SMTPDataError as e:  # 354 not given
        raise SMTPReplyError(e.smtp_code, e.smtp_error, "data") from None
    except smtplib.SMTPServerDisconnected as e:
        raise SMTPReplyError(421, str(e).encode(), "disconnected") from None
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


def make_message(from_, to, subject="test", body="Hello.\n", extra_headers=None,
                 message_id=None, date=None) -> bytes:
    """A small RFC 5322 message with CRLF line ends.

    from_=None leaves out the From: header. extra_headers: dict or list of
    (name, value) pairs, added after the standard ones (may repeat From)."""
    hdrs = []
    if from_ is not None:
        hdrs.append(("From", from_))
    if to is not None:
        hdrs.append(("To", to if isinstance(to, str) else ", ".join(to)))
    hdrs.append(("Subject", subject))
    hdrs.append(("Date", date or formatdate(localtime=False)))
    if message_id is None:
        dom = "sesmilter.test"
        if from_ and "@" in from_:
            dom = from_.rsplit("@", 1)[1].strip(" >")
        message_id = f"<{uuid.uuid4().hex}@{dom}>"
    hdrs.append(("Message-ID", message_id))
    hdrs.append(("MIME-Version", "1.0"))
    hdrs.append(("Content-Type", "text/plain; charset=us-ascii"))
    if extra_headers:
        items = extra_headers.items() if isinstance(extra_headers, dict) else extra_headers
        hdrs.extend(items)
    head = "".join(f"{k}: {v}\r\n" for k, v in hdrs)
    if isinstance(body, bytes):
        body_b = _crlf(body)
    else:
        body_b = _crlf(body.encode())
    if not body_b.endswith(b"\r\n"):
        body_b += b"\r\n"
    return head.encode() + b"\r\n" + body_b


# --------------------------------------------------------------------------
# message inspection and DKIM

def parse_headers(msg: bytes) -> list[tuple[str, str]]:
    """Header fields as (name, unfolded value) in order."""
    import dkim
    headers, _ = dkim.rfc822_parse(msg)
    return [(n.decode(), re.sub(r"\r?\n[ \t]", " ", v.decode(errors="replace")).strip())
            for n, v in headers]


def header_values(msg: bytes, name: str) -> list[str]:
    return [v for n, v in parse_headers(msg) if n.lower() == name.lower()]


def body_of(msg: bytes) -> bytes:
    i = msg.find(b"\r\n\r\n")
    return msg[i + 4:] if i >= 0 else b""


def message_id(msg: bytes):
    v = header_values(msg, "Message-ID")
    return v[0] if v else None


def dkim_signatures(msg: bytes) -> list[dict]:
    """The DKIM-Signature headers' tags, top first, e.g. [{'d':..,'s':..,'a':..}]."""
    out = []
    for v in header_values(msg, "DKIM-Signature"):
        tags = {}
        for part in v.split(";"):
            if "=" in part:
                k, val = part.split("=", 1)
                tags[k.strip()] = re.sub(r"\s+", "", val) if k.strip() in ("b", "bh") \
                    else val.strip()
        out.append(tags)
    return out


def _dnsfunc(txt_records: dict):
    table = {k.lower().rstrip("."): v for k, v in txt_records.items()}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        v = table.get(name.lower().rstrip("."))
        if v is None:
            return None
        return v.encode() if isinstance(v, str) else v
    return dnsfunc


def dkim_verify(msg_bytes: bytes, txt_records: dict) -> bool:
    """dkimpy's verdict on the first (top) signature, with TXT records from
    txt_records {"s1._domainkey.example.com": "v=DKIM1; k=rsa; p=..."}."""
    import dkim
    return bool(dkim.verify(msg_bytes, dnsfunc=_dnsfunc(txt_records)))


def dkim_verify_each(msg_bytes: bytes, txt_records: dict) -> list[dict]:
    """Verify every DKIM-Signature separately: [{'d','s','a','ok'}, ...]."""
    import dkim
    dnsfunc = _dnsfunc(txt_records)
    out = []
    for i, tags in enumerate(dkim_signatures(msg_bytes)):
        d = dkim.DKIM(msg_bytes)
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
            err = None
        except Exception as e:  # dkimpy raises on malformed signatures
            ok, err = False, repr(e)
        out.append({"index": i, "d": tags.get("d"), "s": tags.get("s"),
                    "a": tags.get("a"), "ok": ok, "error": err})
    return out


# public names for helpers other scripts use (bench/run.py)
register, unregister, tail, port_open = _register, _unregister, _tail, _port_open
