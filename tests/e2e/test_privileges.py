"""Privilege drop ([milter] user/group): started as root, sesmilter opens the
store and the socket, then runs as the service user for good; mail is signed
through Postfix and SIGHUP reloads still work (keys readable by the user).

These tests run as root (the e2e machines do) and create a system user
`sesmilter-e2e` when it is missing."""

import os
import pwd
import shutil
import stat
import subprocess

import pytest

import harness as h

USER = "sesmilter-e2e"
RCPT = "rcpt@remote.test"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start as root and drop")


@pytest.fixture(scope="module")
def service_user():
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", USER], check=True)
        pw = pwd.getpwnam(USER)
    return pw


def proc_ids(pid):
    """{'Uid': [r, e, s, fs], 'Gid': [...], 'Groups': [...], 'CapEff': int}"""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
            elif k in ("CapEff", "CapPrm"):
                out[k] = int(v.strip(), 16)
    return out


def user_keys(keys, pw, dest):
    """Copies of the session's keys owned by the service user, mode 0600, as
    operations.md says (OpenDKIM does the same): a reload after the drop
    re-reads them as that user."""
    dest.mkdir(mode=0o750, exist_ok=True)
    os.chown(dest, pw.pw_uid, pw.pw_gid)
    out = {}
    for name, k in (("rsa", keys.rsa), ("net", keys.net)):
        p = dest / os.path.basename(k["key_file"])
        shutil.copyfile(k["key_file"], p)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(p, 0o600)
        out[name] = dict(k, key_file=str(p))
    return out


def send_and_get(mta, from_addr):
    msg = h.make_message(from_addr, RCPT, "privileges", "signed by an unprivileged milter\n")
    before = mta.sink.count()
    assert mta.send(msg, mail_from=from_addr)[0] == 250
    mta.sink.wait_count(before + 1, 20)
    got = [m for m in mta.sink.messages() if h.message_id(m) == h.message_id(msg)]
    assert len(got) == 1
    return got[0]


def test_drops_to_user_signs_and_reloads(mta, keys, service_user):
    pw = service_user
    k = user_keys(keys, pw, mta.dir / "userkeys")
    cfg = mta.config({"example.com": [k["rsa"]], "example.net": []})
    cfg = cfg.replace("[milter]\n", f'[milter]\nuser = "{USER}"\n', 1)
    milter = mta.milter(cfg)
    milter.wait_log(r"dropped privileges: running as " + USER)

    ids = proc_ids(milter.pid)
    assert ids["Uid"] == [pw.pw_uid] * 4, ids
    assert ids["Gid"] == [pw.pw_gid] * 4, ids
    assert 0 not in ids["Groups"], ids
    assert ids["CapEff"] == 0 and ids["CapPrm"] == 0, ids
    assert "running as root" not in milter.log()

    # The socket was handed to Postfix before the drop, with the mode asked.
    st = os.stat(mta.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_uid == pwd.getpwnam("postfix").pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o660
    # The store belongs to the user, so the daemon (and sesctl as the user) can write it.
    store = milter.workdir / "store"
    for p in [store, *store.iterdir()]:
        assert p.stat().st_uid == pw.pw_uid, p

    got = send_and_get(mta, "alice@example.com")
    assert h.dkim_verify(got, keys.txt), got.decode(errors="replace")

    # SIGHUP after the drop: example.net gets its key, read as the user.
    offset = len(milter.log())
    milter.write_config(cfg.replace('name = "example.net"\ndkim = [  ]',
                                    f'name = "example.net"\ndkim = [ {{ selector = "n1", key = "{k["net"]["key_file"]}" }} ]'))
    assert 'selector = "n1"' in milter.config_text
    milter.hup()
    milter.wait_log(r"reload: configuration and keys reloaded", start=offset)
    got = send_and_get(mta, "carol@example.net")
    assert [s["s"] for s in h.dkim_signatures(got)] == ["n1"]
    assert h.dkim_verify(got, keys.txt)
    assert proc_ids(milter.pid)["Uid"] == [pw.pw_uid] * 4


def test_reload_with_root_only_key_is_refused_and_named(mta, keys, service_user):
    """The failure operations.md warns about: a key only root can read."""
    pw = service_user
    k = user_keys(keys, pw, mta.dir / "userkeys")
    cfg = mta.config({"example.com": [k["rsa"]]}).replace("[milter]\n", f'[milter]\nuser = "{USER}"\n', 1)
    milter = mta.milter(cfg)
    milter.wait_log(r"dropped privileges")
    os.chown(k["rsa"]["key_file"], 0, 0)
    offset = len(milter.log())
    milter.hup()
    m = milter.wait_log(r"reload refused, keeping the running configuration: (.*)", start=offset)
    assert "domain example.com: cannot read key " + k["rsa"]["key_file"] in m.group(1), m.group(0)
    got = send_and_get(mta, "alice@example.com")
    assert h.dkim_verify(got, keys.txt)


def test_root_without_user_warns(mta, keys):
    milter = mta.milter(mta.config({"example.com": [keys.rsa]}))
    milter.wait_log(r"warning: running as root: \[milter\] user is not set")
    assert proc_ids(milter.pid)["Uid"][1] == 0


def test_unknown_user_fails_start_up_with_the_key_named(e2e_root, sesmilter_bin, mta, keys):
    cfg = mta.config({"example.com": [keys.rsa]}).replace("[milter]\n", '[milter]\nuser = "no-such-user-ses"\n', 1)
    milter = h.Sesmilter(sesmilter_bin, cfg, mta.dir)
    with pytest.raises(h.HarnessError):
        milter.start(timeout=10)
    assert "milter.user: no such user: no-such-user-ses" in milter.log()
    assert milter.last_returncode == 1


def test_check_config_names_an_unknown_user(mta, keys, sesmilter_bin):
    cfg = mta.config({"example.com": [keys.rsa]}).replace("[milter]\n", '[milter]\nuser = "no-such-user-ses"\n', 1)
    path = mta.dir / "check.toml"
    path.write_text(cfg + f'\n[store]\npath = "{mta.dir}/checkstore"\n')
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 1
    assert "milter.user: no such user: no-such-user-ses" in cp.stderr
