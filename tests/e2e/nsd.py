"""nsd.py -- a real authoritative DNS server (NSD) on loopback for the tests.

NSD serves one root zone (".") built from the records a test hands it, so
any name a test uses -- example.com, 4.3.2.1.in-addr.arpa, _dmarc.x.test --
is answered authoritatively from that data and everything else is NXDOMAIN.
sesmilter's resolver (libunbound) forwards to it: [dns] forwarders =
["127.0.0.1@PORT"].

A FaultProxy can sit in front of NSD to make chosen questions fail the way a
broken DNS does: no answer at all ("drop": the client times out) or SERVFAIL.
That is how the RFC 7208 suite's TIMEOUT records are served.

    dns = Nsd(workdir).start([("example.com", "TXT", "v=spf1 -all")])
    dns.forwarder            # "127.0.0.1@PORT"
    dns.load([...])          # new data: NSD is restarted on the same port
    dns.stop()

Processes are started here and stopped by PID (harness bookkeeping).
Run with Debian's /usr/bin/python3 (dnspython comes with python3-dnspython).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import harness as h

NSD = "/usr/sbin/nsd"


# --------------------------------------------------------------------------
# zone file text

def _label_bytes(label: str) -> bytes:
    return label.encode("latin-1") if all(ord(c) < 256 for c in label) else label.encode()


def zone_name(name: str) -> str:
    """A domain name in zone-file syntax (absolute), escaping odd bytes."""
    name = name.rstrip(".")
    if not name:
        return "."
    out = []
    for label in name.split("."):
        esc = ""
        for b in _label_bytes(label):
            c = chr(b)
            esc += c if (c.isascii() and (c.isalnum() or c in "-_")) else f"\\{b:03d}"
        out.append(esc)
    return ".".join(out) + "."


def _char_strings(value) -> str:
    """TXT/SPF rdata: a str (split every 255 bytes) or a list of strs."""
    parts = value if isinstance(value, list) else [value]
    if not parts:
        parts = [""]
    out = []
    for part in parts:
        data = part.encode("latin-1") if all(ord(c) < 256 for c in part) else part.encode()
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            s = ""
            for b in chunk:
                c = chr(b)
                s += c if (32 <= b < 127 and c not in '"\\') else f"\\{b:03d}"
            out.append(f'"{s}"')
    return " ".join(out)


def rdata(rtype: str, value) -> str:
    t = rtype.upper()
    if t in ("TXT", "SPF"):
        return _char_strings(value)
    if t == "MX":
        pref, host = value
        return f"{int(pref)} {zone_name(host)}"
    if t in ("CNAME", "PTR", "NS"):
        return zone_name(value)
    return str(value)  # A, AAAA


def zone_text(records, ttl: int = 1) -> str:
    """The root zone holding `records`: (name, type, value) triples."""
    lines = [
        "$TTL %d" % ttl,
        f". {ttl} IN SOA ns.nsd.test. hostmaster.nsd.test. 1 3600 600 86400 {ttl}",
        f". {ttl} IN NS ns.nsd.test.",
        f"ns.nsd.test. {ttl} IN A 127.0.0.1",
    ]
    for name, rtype, value in records:
        lines.append(f"{zone_name(name)} {ttl} IN {rtype.upper()} {rdata(rtype, value)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# NSD

class Nsd:
    """NSD 4 in the foreground on 127.0.0.1:port, serving the root zone."""

    def __init__(self, workdir, port: int | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or h.free_port()
        self.proc = None
        self.records = []

    @property
    def forwarder(self) -> str:
        return f"127.0.0.1@{self.port}"

    def _write(self, records) -> None:
        (self.dir / "root.zone").write_text(zone_text(records))
        (self.dir / "nsd.conf").write_text(f"""\
server:
    ip-address: 127.0.0.1@{self.port}
    username: ""
    chroot: ""
    zonesdir: "{self.dir}"
    database: ""
    pidfile: "{self.dir}/nsd.pid"
    xfrdfile: "{self.dir}/xfrd.state"
    zonelistfile: "{self.dir}/zone.list"
    logfile: "{self.dir}/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
""")

    def start(self, records=(), timeout: float = 10.0) -> "Nsd":
        self.records = list(records)
        self._write(self.records)
        chk = subprocess.run(["/usr/sbin/nsd-checkzone", ".", str(self.dir / "root.zone")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if chk.returncode != 0:
            raise h.HarnessError(f"zone does not load: {chk.stdout}")
        log = open(self.dir / "nsd.stderr", "ab")
        self.proc = subprocess.Popen([NSD, "-d", "-c", str(self.dir / "nsd.conf")],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        h._register(self)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = (self.dir / "nsd.stderr").read_text(errors="replace")
                self.stop()
                raise h.HarnessError(f"NSD did not answer on {self.forwarder}\n{out[-2000:]}")
            time.sleep(0.05)
        return self

    def load(self, records) -> "Nsd":
        """Serve new data (restart on the same port)."""
        self.stop()
        return self.start(records)

    def answers(self) -> bool:
        """Does NSD answer an SOA question for the root?"""
        q = _query_packet(".", 6)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.3)
                s.sendto(q, ("127.0.0.1", self.port))
                data, _ = s.recvfrom(4096)
                return len(data) >= 12 and data[:2] == q[:2]
        except OSError:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        h._unregister(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _query_packet(name: str, qtype: int) -> bytes:
    qid = os.getpid() & 0xFFFF
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".") if l) + b"\0"
    return header + qname + struct.pack("!HH", qtype, 1)


# --------------------------------------------------------------------------
# a proxy that makes chosen questions fail

_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
          "AAAA": 28, "SPF": 99}


def _question(packet: bytes):
    """(lower-case name, qtype) of a query, or None."""
    try:
        i, labels = 12, []
        while True:
            n = packet[i]
            if n == 0:
                i += 1
                break
            labels.append(packet[i + 1:i + 1 + n].decode("latin-1"))
            i += 1 + n
        qtype = struct.unpack("!H", packet[i:i + 2])[0]
        return ".".join(labels).lower(), qtype
    except (IndexError, struct.error):
        return None


def _servfail(packet: bytes) -> bytes:
    flags = struct.unpack("!H", packet[2:4])[0]
    flags = (flags | 0x8000 | 0x0080) & ~0x000F | 2  # QR, RA, rcode 2
    end = 12
    while packet[end] != 0:
        end += 1 + packet[end]
    end += 5
    return packet[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + packet[12:end]


class FaultProxy:
    """UDP and TCP relay on 127.0.0.1:port to an upstream DNS server.

    fail(name, qtype=None, how="servfail"|"drop"|"pass"): questions for
    `name` (and the type, if given) get SERVFAIL or no answer at all; a rule
    for (name, type) wins over one for the whole name, so "pass" exempts one
    type.  Everything else is relayed unchanged.
    """

    def __init__(self, upstream_port: int, port: int | None = None):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = port or h.free_port()
        self.rules: dict = {}
        self._stop = threading.Event()
        self._threads = []
        self._udp = None
        self._tcp = None

    @property
    def forwarder(self) -> str:
        return f"127.0.0.1@{self.port}"

    def fail(self, name: str, qtype=None, how: str = "servfail") -> None:
        t = _TYPES.get(qtype.upper(), None) if isinstance(qtype, str) else qtype
        self.rules[(name.lower().rstrip("."), t)] = how

    def clear(self) -> None:
        self.rules.clear()

    def _rule(self, packet: bytes):
        q = _question(packet)
        if not q:
            return None
        return self.rules.get(q) or self.rules.get((q[0], None))

    def _relay(self, packet: bytes, tcp: bool) -> bytes | None:
        try:
            if tcp:
                with socket.create_connection(self.upstream, timeout=3) as s:
                    s.sendall(struct.pack("!H", len(packet)) + packet)
                    n = struct.unpack("!H", _recv_exact(s, 2))[0]
                    return _recv_exact(s, n)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)
                s.sendto(packet, self.upstream)
                return s.recvfrom(65535)[0]
        except OSError:
            return None

    def _answer(self, packet: bytes, tcp: bool) -> bytes | None:
        how = self._rule(packet)
        if how == "pass":
            how = None
        if how == "drop":
            return None
        if how == "servfail":
            return _servfail(packet)
        return self._relay(packet, tcp)

    def start(self) -> "FaultProxy":
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind(("127.0.0.1", self.port))
        self._tcp.listen(16)
        for fn in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        h._register(self)
        return self

    def _serve_udp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._udp], [], [], 0.1)
            if not r:
                continue
            try:
                packet, addr = self._udp.recvfrom(65535)
            except OSError:
                continue
            threading.Thread(target=self._udp_one, args=(packet, addr), daemon=True).start()

    def _udp_one(self, packet, addr):
        reply = self._answer(packet, False)
        if reply is not None:
            try:
                self._udp.sendto(reply, addr)
            except OSError:
                pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._tcp], [], [], 0.1)
            if not r:
                continue
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                continue
            threading.Thread(target=self._tcp_one, args=(conn,), daemon=True).start()

    def _tcp_one(self, conn):
        with conn:
            try:
                conn.settimeout(5)
                n = struct.unpack("!H", _recv_exact(conn, 2))[0]
                packet = _recv_exact(conn, n)
                reply = self._answer(packet, True)
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, struct.error):
                pass

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        for s in (self._udp, self._tcp):
            if s:
                s.close()
        self._threads = []
        h._unregister(self)


def _recv_exact(s, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("short read")
        buf += chunk
    return buf
