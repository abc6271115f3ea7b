"""`sesmilter --check-config -c FILE`: exit 0 on a good file; on a bad one
exit nonzero and name FILE:LINE of the mistake."""

import pytest

import harness as h


def numbered(text):
    return "\n".join(f"{i + 1:3}: {l}" for i, l in enumerate(text.splitlines()))


def good_config(tmp_dir, keys):
    return h.sesmilter_config(f"unix:{tmp_dir}/milter.sock",
                              {"example.com": [keys.rsa, keys.ed]})


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(f"{needle!r} not in config")


def test_good_config_passes(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "check_config_good"
    d.mkdir(exist_ok=True)
    path = d / "good.toml"
    path.write_text(good_config(d, keys))
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n{numbered(path.read_text())}"


# (name, edit(text, keys) -> text, the text on the line that must be reported)
CASES = [
    ("toml_syntax",
     lambda t, k: t.replace('on_error = "tempfail"', 'on_error = "tempfail'),
     'on_error = "tempfail'),
    ("bad_enum_value",
     lambda t, k: t.replace('on_error = "tempfail"', 'on_error = "explode"'),
     'on_error = "explode"'),
    ("bad_size_value",
     lambda t, k: t.replace('max_message_size = "10MB"', 'max_message_size = "ten"'),
     'max_message_size = "ten"'),
    ("unknown_key",
     lambda t, k: t.replace('on_error = "tempfail"', 'on_error = "tempfail"\nno_such_key = 1'),
     "no_such_key = 1"),
    ("missing_key_file",
     lambda t, k: t.replace(k.ed["key_file"], "/nonexistent/example.com.e1.pem"),
     "/nonexistent/example.com.e1.pem"),
]


@pytest.mark.parametrize("name,edit,bad_line", CASES, ids=[c[0] for c in CASES])
def test_bad_config_reports_file_and_line(sesmilter_bin, keys, e2e_root, name, edit,
                                          bad_line):
    d = e2e_root / "check_config_bad"
    d.mkdir(exist_ok=True)
    good = good_config(d, keys)
    text = edit(good, keys)
    assert text != good
    path = d / f"{name}.toml"
    path.write_text(text)
    line = line_of(text, bad_line)
    cp = h.check_config(sesmilter_bin, path)
    out = cp.stdout + cp.stderr
    ctx = f"exit {cp.returncode}, output:\n{out}\nconfig:\n{numbered(text)}"
    assert cp.returncode != 0, ctx
    assert f"{path}:{line}" in out, ctx


# wp4: values the TOML types cannot check (#9).
SYNTAX_CASES = [
    ("port_out_of_range",
     lambda t, d: t.replace(f'socket = "unix:{d}/milter.sock"', 'socket = "inet:99999@127.0.0.1"'),
     'socket = "inet:99999@127.0.0.1"', "not between 1 and 65535"),
    ("selector_not_a_label",
     lambda t, d: t.replace('selector = "s1"', 'selector = "s1; x=y"', 1),
     'selector = "s1; x=y"', "expected a selector"),
    ("domain_not_a_name",
     lambda t, d: t.replace('name = "example.com"', 'name = "exa mple..com"', 1),
     'name = "exa mple..com"', "expected a domain name"),
]


@pytest.mark.parametrize("name,edit,bad_line,why", SYNTAX_CASES, ids=[c[0] for c in SYNTAX_CASES])
def test_value_syntax_is_checked(sesmilter_bin, keys, e2e_root, name, edit, bad_line, why):
    d = e2e_root / "check_config_syntax"
    d.mkdir(exist_ok=True)
    good = good_config(d, keys)
    text = edit(good, d)
    assert text != good, f"edit {name} did not apply:\n{numbered(good)}"
    path = d / f"{name}.toml"
    path.write_text(text)
    cp = h.check_config(sesmilter_bin, path)
    out = cp.stdout + cp.stderr
    ctx = f"exit {cp.returncode}, output:\n{out}\nconfig:\n{numbered(text)}"
    assert cp.returncode != 0, ctx
    assert f"{path}:{line_of(text, bad_line)}" in out, ctx
    assert why in out, ctx


def test_huge_value_is_not_echoed_whole(sesmilter_bin, keys, e2e_root):
    d = e2e_root / "check_config_huge"
    d.mkdir(exist_ok=True)
    huge = "x" * 5_000_000
    text = good_config(d, keys).replace('on_error = "tempfail"', f'on_error = "{huge}"')
    path = d / "huge.toml"
    path.write_text(text)
    cp = h.check_config(sesmilter_bin, path)
    out = cp.stdout + cp.stderr
    assert cp.returncode != 0
    assert "milter.on_error" in out
    assert len(out) < 2000, f"{len(out)} bytes of output"


def test_checks_what_start_up_opens(sesmilter_bin, keys, e2e_root):
    """--check-config runs the start-up checks: the Lua script is loaded
    (and its hooks named), the socket directory must be usable, a config
    that signs nothing is warned about."""
    d = e2e_root / "check_config_startup"
    d.mkdir(exist_ok=True)
    script = d / "policy.lua"
    script.write_text('ses.on("daily_limit", function(identity) return 50 end)\n')
    base = good_config(d, keys) + f'\n[policy]\nscript = "{script}"\n'

    path = d / "script.toml"
    path.write_text(base)
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"script {script}" in cp.stdout and "daily_limit" in cp.stdout, cp.stdout

    path = d / "no_script.toml"
    path.write_text(base.replace(str(script), str(d / "missing.lua")))
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode != 0 and str(d / "missing.lua") in cp.stderr, cp.stdout + cp.stderr

    path = d / "broken_script.toml"
    broken = d / "broken.lua"
    broken.write_text("ses.on(\"daily_limit\", function(identity) return 1 end\n")  # missing ')'
    path.write_text(base.replace(str(script), str(broken)))
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode != 0 and str(broken) in cp.stderr, cp.stdout + cp.stderr

    # a missing socket directory that can be created is fine (start-up makes it)
    path = d / "new_dir.toml"
    path.write_text(base.replace(f"unix:{d}/milter.sock", f"unix:{d}/run/milter.sock"))
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert not (d / "run").exists(), "--check-config changes nothing"

    path = d / "unsigned.toml"
    path.write_text(h.sesmilter_config(f"unix:{d}/milter.sock", {"example.com": []}))
    cp = h.check_config(sesmilter_bin, path)
    assert cp.returncode == 0 and "signs nothing" in cp.stdout, cp.stdout + cp.stderr


def test_encrypted_key_is_refused_without_prompting(sesmilter_bin, keys, e2e_root):
    """An encrypted PEM key must not make --check-config ask for a pass phrase
    on the terminal: stdin is a pty here, so a prompt would hang until the
    timeout.  The error names the file and says the key is encrypted."""
    import fcntl
    import os
    import pty
    import subprocess
    import termios

    d = e2e_root / "check_config_encrypted"
    d.mkdir(exist_ok=True)
    enc = d / "encrypted.pem"
    subprocess.run(["openssl", "pkey", "-in", keys.rsa["key_file"], "-aes256",
                    "-passout", "pass:secret", "-out", str(enc)], check=True)
    os.chmod(enc, 0o600)
    assert "ENCRYPTED" in enc.read_text()
    text = good_config(d, keys).replace(keys.rsa["key_file"], str(enc))
    path = d / "encrypted.toml"
    path.write_text(text)
    master, slave = pty.openpty()

    def controlling_tty():  # the pty becomes /dev/tty, where OpenSSL prompts
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        cp = subprocess.run([str(sesmilter_bin), "--check-config", "-c", str(path)],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=20, preexec_fn=controlling_tty)
    finally:
        os.close(slave)
        os.close(master)
    out = cp.stdout + cp.stderr
    assert cp.returncode != 0, out
    assert str(enc) in out, out
    assert "encrypted" in out, out
    assert "pass phrase" in out.lower(), out
