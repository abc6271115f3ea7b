"""Fixtures for sesmilter's end-to-end tests: a private Postfix relaying to
smtp-sink, sesmilter on a unix socket between them, keys made by sesctl.

Run with Debian's interpreter:  /usr/bin/python3 -m pytest -q tests/e2e
Set SESMILTER_E2E_KEEP=1 to keep the work directory (it is kept anyway when a
test fails) and SESMILTER_BIN / SESCTL_BIN to test other binaries.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

SESMILTER = Path(os.environ.get("SESMILTER_BIN", h.DEFAULT_BINARY))
SESCTL = Path(os.environ.get("SESCTL_BIN", h.DEFAULT_SESCTL))


def _need(binary: Path) -> Path:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"{binary} is missing or not executable: build it first "
                    f"(`make` in {h.REPO}); the end-to-end tests do not skip.",
                    pytrace=False)
    return binary


@pytest.fixture(scope="session")
def sesmilter_bin() -> Path:
    return _need(SESMILTER)


@pytest.fixture(scope="session")
def sesctl_bin() -> Path:
    return _need(SESCTL)


@pytest.fixture(scope="session")
def e2e_root(request):
    """Session work dir under /tmp, traversable by user postfix."""
    root = h.make_root("sesmilter-e2e")
    yield root
    h.stop_all()
    failed = request.session.testsfailed
    if failed or os.environ.get("SESMILTER_E2E_KEEP"):
        sys.stderr.write(f"\n[e2e] work directory kept: {root}\n")
    else:
        shutil.rmtree(root, ignore_errors=True)


class Keys:
    """DKIM keys made by `sesctl dkim keygen --json` (one JSON dict each)."""

    def __init__(self, sesctl: Path, out_dir: Path):
        self.sesctl = sesctl
        self.out_dir = out_dir
        self.all: list[dict] = []

    def make(self, domain: str, selector: str, algorithm: str, bits=None) -> dict:
        info = h.keygen(domain, selector, algorithm, self.out_dir, bits=bits,
                        binary=self.sesctl)
        missing = {"domain", "selector", "algorithm", "key_file", "dns_name",
                   "txt"} - set(info)
        if missing:
            pytest.fail(f"sesctl dkim keygen --json lacks {sorted(missing)}: {info}")
        self.all.append(info)
        return info

    @property
    def txt(self) -> dict:
        """{dns_name: txt} for every key made: dnsfunc table for dkimpy."""
        return {k["dns_name"]: k["txt"] for k in self.all}


@pytest.fixture(scope="session")
def keys(sesctl_bin, e2e_root) -> Keys:
    """RSA-2048 (s1) and Ed25519 (e1) for example.com, RSA (n1) for
    example.net (a domain the base configs do not list)."""
    k = Keys(sesctl_bin, e2e_root / "keys")
    k.rsa = k.make("example.com", "s1", "rsa", bits=2048)
    k.ed = k.make("example.com", "e1", "ed25519")
    k.net = k.make("example.net", "n1", "rsa", bits=2048)
    return k


class MTA:
    """Postfix on 127.0.0.1:port -> smtp-sink, milter socket at self.socket."""

    def __init__(self, dir: Path, milter_bin: Path):
        self.dir = dir
        self.milter_bin = milter_bin
        self.socket = dir / "milter.sock"
        self.sink = h.Sink(dir / "sink", h.free_port())
        self.postfix = h.Postfix(dir / "postfix", h.free_port(), self.sink.port,
                                 milter=f"unix:{self.socket}")
        self.milters: list[h.Sesmilter] = []

    @property
    def port(self) -> int:
        return self.postfix.smtpd_port

    def start(self) -> "MTA":
        self.sink.start()
        self.postfix.start()
        return self

    def stop(self) -> None:
        for m in self.milters:
            m.stop()
        self.postfix.stop()
        self.sink.stop()

    def config(self, domains=None, **kw) -> str:
        return h.sesmilter_config(f"unix:{self.socket}", domains, **kw)

    def milter(self, config_text: str, start: bool = True) -> h.Sesmilter:
        """A sesmilter on this MTA's socket (stopped at teardown)."""
        m = h.Sesmilter(self.milter_bin, config_text, self.dir)
        self.milters.append(m)
        if start:
            m.start()
        return m

    def send(self, msg: bytes, mail_from="sender@example.com", rcpts=("rcpt@remote.test",)):
        return h.send(self.port, mail_from, list(rcpts), msg)

    def diagnostics(self) -> str:
        out = [f"--- maillog ({self.postfix.maillog_path})",
               h._tail(self.postfix.maillog, 30)]
        for m in self.milters:
            out += [f"--- sesmilter log ({m.log_path})", h._tail(m.log(), 30)]
        return "\n".join(out)


@pytest.fixture
def mta(request, e2e_root, sesmilter_bin):
    """A fresh Postfix + smtp-sink for one test; start a milter with
    mta.milter(mta.config({...}))."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:40]
    d = e2e_root / name
    n = 0
    while d.exists():
        n += 1
        d = e2e_root / f"{name}_{n}"
    d.mkdir()
    d.chmod(0o755)
    m = MTA(d, sesmilter_bin)
    try:
        m.start()
        yield m
    finally:
        m.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, append the maillog and sesmilter log tails to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and "mta" in getattr(item, "funcargs", {}):
        try:
            rep.sections.append(("e2e logs", item.funcargs["mta"].diagnostics()))
        except Exception:
            pass
