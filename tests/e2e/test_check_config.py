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
