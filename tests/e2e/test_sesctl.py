"""sesctl's command line: version, usage errors (exit 2, JSON with --json),
unknown options, `dkim keygen --out` into a missing directory, and the name
sesctl logs under."""

import json
import os
import stat
import subprocess

import pytest


def run(sesctl_bin, *args, env=None):
    return subprocess.run([str(sesctl_bin), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


def configured_version():
    """The version in configure.ac's AC_INIT, which --version must print."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(repo, "configure.ac")) as f:
        for line in f:
            if line.startswith("AC_INIT("):
                return line.split(",")[1].strip(" []")
    raise AssertionError("no AC_INIT in configure.ac")


def test_version(sesctl_bin):
    cp = run(sesctl_bin, "--version")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == f"sesctl {configured_version()}"
    cp = run(sesctl_bin, "--version", "--json")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == {"version": configured_version()}


def test_unknown_option_with_value_is_a_usage_error(sesctl_bin, tmp_path):
    cp = run(sesctl_bin, "-c", "/dev/null", "dkim", "keygen", "--domain", "example.com",
             "--selector", "s1", "--out", tmp_path, "--colour", "blue")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "unknown option --colour" in cp.stderr
    assert "usage: sesctl dkim keygen" in cp.stderr
    assert list(tmp_path.iterdir()) == [], "a key was written despite the usage error"


def test_unknown_option_with_equals_is_a_usage_error(sesctl_bin, tmp_path):
    cp = run(sesctl_bin, "-c", "/dev/null", "dkim", "keygen", "--domain", "example.com",
             "--selector", "s1", f"--out={tmp_path}", "--colour=blue")
    assert cp.returncode == 2
    assert "unknown option --colour" in cp.stderr


def test_flag_with_value_is_a_usage_error(sesctl_bin, tmp_path):
    cp = run(sesctl_bin, "-c", "/dev/null", "template", "import", tmp_path, "--dry-run=yes")
    assert cp.returncode == 2
    assert "--dry-run takes no value" in cp.stderr


@pytest.mark.parametrize("argv,why", [
    (["no-such-command"], "unknown command: no-such-command"),
    ([], "no command given"),
    (["dkim", "keygen", "--colour", "blue"], "unknown option --colour"),
    (["dkim", "keygen", "--domain"], "option --domain needs a value"),
    (["--now", "yesterday", "warmup", "status"], "--now: not an RFC 3339 time"),
    (["-c"], "-c needs a value"),
], ids=["unknown_command", "no_command", "unknown_option", "missing_value", "bad_now", "c_without_file"])
def test_usage_errors_honour_json(sesctl_bin, argv, why):
    cp = run(sesctl_bin, "--json", *argv)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    doc = json.loads(cp.stdout)
    assert why in doc["error"], doc
    cp = run(sesctl_bin, *argv)
    assert cp.returncode == 2
    assert why in cp.stderr
    assert cp.stdout == "" or not cp.stdout.lstrip().startswith("{")


def test_keygen_creates_missing_out_directory_0700(sesctl_bin, tmp_path):
    out = tmp_path / "not" / "yet" / "there"
    cp = run(sesctl_bin, "-c", "/dev/null", "dkim", "keygen", "--domain", "Example.COM",
             "--selector", "s1", "--algorithm", "ed25519", "--out", out, "--json")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    info = json.loads(cp.stdout)
    key = out / "example.com.s1.pem"
    assert info["key_file"] == str(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for d in (tmp_path / "not", tmp_path / "not" / "yet", out):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_keygen_out_is_a_file(sesctl_bin, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    cp = run(sesctl_bin, "-c", "/dev/null", "dkim", "keygen", "--domain", "example.com",
             "--selector", "s1", "--out", f, "--json")
    assert cp.returncode == 1
    assert "not a directory" in json.loads(cp.stdout)["error"]


def test_logs_under_the_name_sesctl(sesctl_bin, tmp_path):
    # An unreadable public suffix list makes the DMARC layer log a warning;
    # that line must be sesctl's, not pass for the daemon's.
    cfg = tmp_path / "c.toml"
    cfg.write_text('[verify]\npublic_suffix_list = "/nonexistent/psl.dat"\n'
                   f'[store]\npath = "{tmp_path}/store"\n')
    sample = os.path.join(os.path.dirname(__file__), "..", "data", "sample.eml")
    cp = run(sesctl_bin, "-c", cfg, "auth", "verify", sample, "--ip", "127.0.0.1", "--sender",
             "a@example.com", "--helo", "localhost", "--dns", "127.0.0.1@9", "--timeout", "1")
    warn = [l for l in cp.stderr.splitlines() if "public suffix list" in l]
    assert warn, cp.stderr
    assert " sesctl[" in warn[0], warn[0]
    assert "sesmilter[" not in cp.stderr


def test_declared_options_still_accepted(sesctl_bin, tmp_path):
    # Options that commands read but their usage line used to omit.
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path}/store"\n')
    cp = run(sesctl_bin, "-c", cfg, "identity", "verify", "example.com", "--store",
             tmp_path / "other", "--dns", "127.0.0.1@9", "--timeout", "1", "--no-store")
    assert "unknown option" not in cp.stderr, cp.stderr
    cp = run(sesctl_bin, "-c", cfg, "template", "put", "t1", "--subject", "Hi",
             "--default-data-file", "/nonexistent.json", "--text", "-")
    assert "unknown option" not in cp.stderr, cp.stderr


def test_install_puts_the_config_dir_where_the_programs_look(sesctl_bin, tmp_path):
    """`make install` with configure's defaults creates the directory of the
    programs' compiled-in configuration file."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    stage = tmp_path / "stage"
    cp = subprocess.run(["make", "-s", "-C", repo, "install", f"DESTDIR={stage}"],
                        capture_output=True, text=True, timeout=1200)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    help_text = run(sesctl_bin, "--help").stdout
    default = help_text.split("(default ", 1)[1].split(")", 1)[0]
    assert default.endswith("/sesmilter/sesmilter.toml"), help_text
    assert (stage / default.lstrip("/")).parent.is_dir(), sorted(str(p) for p in stage.rglob("*"))
    keys = stage / default.lstrip("/").rsplit("/", 1)[0] / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    installed = [p for p in stage.rglob("sesctl") if p.is_file()]
    assert installed, "sesctl not installed"
    cp = subprocess.run([str(installed[0]), "--help"], capture_output=True, text=True)
    assert f"(default {default})" in cp.stdout


@pytest.mark.parametrize("domain,selector,why", [
    ("example.com", "../../escape", "--selector: not a selector"),
    ("example.com", "s1; x=y", "--selector: not a selector"),
    ("exa mple..com", "s1", "--domain: not a domain name"),
], ids=["selector_path", "selector_tag", "domain_space"])
def test_keygen_rejects_names_that_are_not_dns_names(sesctl_bin, tmp_path, domain, selector, why):
    out = tmp_path / "keys"
    cp = run(sesctl_bin, "-c", "/dev/null", "dkim", "keygen", "--domain", domain, "--selector", selector,
             "--out", out, "--json")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert why in json.loads(cp.stdout)["error"]
    assert not any(tmp_path.rglob("*.pem"))
