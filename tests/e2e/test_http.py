"""The HTTP endpoint through a real Postfix: a message goes through, then
the JSON API answers exactly what `sesctl ... --json` prints, operator routes
refuse requests without a key, with a wrong key and with a revoked key,
public routes need none, and /metrics is valid Prometheus text (parsed by
python3-prometheus-client) whose counters match the mail sent."""

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import harness as h

SENDER = "alice@example.com"


def fetch(port, path, key=None):
    req = urllib.request.Request(f"http://{h.LOOPBACK}:{port}{path}")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def api(port, path, key):
    code, _, body = fetch(port, path, key)
    assert code == 200, (path, code, body)
    return json.loads(body)


def test_http_api_auth_and_metrics(mta, keys, sesctl_bin):
    port = h.free_port()
    extra = f"""
[http]
listen = ["{h.LOOPBACK}:{port}"]

[warmup]
enabled = true
time_zone = "UTC"
release_scheduler = false

[mta]
kind = "postfix"
config_directory = "{mta.postfix.config_dir}"
log_file = "{mta.postfix.maillog_path}"
log_poll_interval = "1s"
"""
    m = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra), start=False)

    def ctl(*args, check=True):
        cp = h.sesctl("-c", str(m.config_path), *args, "--json", binary=sesctl_bin, check=check)
        return json.loads(cp.stdout)

    key = ctl("apikey", "create", "ops")["key"]
    other = ctl("apikey", "create", "ci")["key"]
    assert key != other
    listed = ctl("apikey", "list")["keys"]
    assert sorted(k["name"] for k in listed) == ["ci", "ops"]
    assert key not in json.dumps(listed)
    m.start()
    h.wait_port(port)

    rcpts = ["one@remote.test", "two@remote.test"]
    msg = h.make_message(f"Alice <{SENDER}>", rcpts, "http test", "Hello.\n")
    code, _ = mta.send(msg, mail_from=SENDER, rcpts=rcpts)
    assert code == 250
    mid = m.wait_log(r" id=([a-z2-7]{26})\b", 20).group(1)

    def delivered():
        st = ctl("status", mid, check=False)
        return all(e["DeliverStatus"] == 1 for e in st.get("EmailStatusList", [])) and \
            len(st.get("EmailStatusList", [])) == 2
    h.wait_for(delivered, 40, interval=0.3, what="both recipients delivered")

    # The API's documents are sesctl's, field for field.
    assert api(port, f"/v1/messages/{mid}", key) == ctl("status", mid)
    assert api(port, "/v1/stats", key) == ctl("stats")
    day = ctl("stats")["From"]
    assert api(port, f"/v1/stats?from={day}&to={day}&identity=example.com", key) == \
        ctl("stats", "--from", day, "--to", day, "--identity", "example.com")
    assert api(port, "/v1/stats", key)["Total"]["DeliveredCount"] == 2
    warm_api, warm_ctl = api(port, "/v1/warmup", key), ctl("warmup", "status")
    # policy_fallbacks/stalls are per process (the daemon's vs sesctl's own).
    assert warm_api["identities"] == warm_ctl["identities"]
    assert warm_api["time_zone"] == warm_ctl["time_zone"] == "UTC"
    assert api(port, "/v1/queue/held", key) == ctl("queue", "held")
    code, _, body = fetch(port, "/v1/messages/nosuchmessage", key)
    assert code == 404 and "no message record" in json.loads(body)["error"]
    code, _, body = fetch(port, "/v1/stats?from=yesterday", key)
    assert code == 400 and "from" in json.loads(body)["error"]

    # Operator routes: 401 without a key, with a wrong one, with a revoked one.
    for path in ("/v1/stats", f"/v1/messages/{mid}", "/metrics"):
        code, headers, _ = fetch(port, path)
        assert code == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert fetch(port, path, "ses_" + "0" * 64)[0] == 401, path
    assert fetch(port, "/v1/stats", other)[0] == 200
    ctl("apikey", "revoke", "ci")
    assert fetch(port, "/v1/stats", other)[0] == 401
    assert fetch(port, "/v1/stats", key)[0] == 200
    # Public routes need no key (the tracking stubs answer 404, not 401).
    assert fetch(port, "/o/sometoken")[0] == 404
    assert fetch(port, "/nothing/here", key)[0] == 404

    # /metrics: valid Prometheus text whose counters match the mail sent.
    code, headers, text = fetch(port, "/metrics", key)
    assert code == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("sesmilter_messages_total", (("verdict", "accept"),))] == 1
    assert samples[("sesmilter_signatures_total", (("algorithm", "rsa-sha256"),))] == 1
    assert samples[("sesmilter_end_of_message_duration_seconds_count", ())] == 1
    assert samples[("sesmilter_end_of_message_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert samples.get(("sesmilter_warmup_holds_total", ()), 0) == 0
    ident = warm_api["identities"][0]
    assert ident["identity"] == "example.com"
    assert samples[("sesmilter_quota_used_messages", (("identity", "example.com"),))] == ident["used"] > 0
    assert samples[("sesmilter_quota_limit_messages", (("identity", "example.com"),))] == ident["limit"]
    assert samples[("sesmilter_policy_stalls_total", ())] == 0
    assert samples[("sesmilter_warmup_skipped_total", ())] == 0
    assert samples[("sesmilter_records_skipped_total", ())] == 0
    assert ("sesmilter_follower_lag_bytes", ()) in samples
    assert samples[("sesmilter_http_requests_total", (("code", "401"),))] >= 7


def test_http_tls_and_admin_listener(mta, sesctl_bin, tmp_path):
    """HTTPS served by sesmilter itself, and admin_listen: operator routes
    only there, public routes only on listen."""
    import ssl
    import subprocess
    cert, key_file = tmp_path / "http.crt", tmp_path / "http.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key_file), "-out", str(cert)], check=True, capture_output=True)
    public, admin = h.free_port(), h.free_port()
    extra = f"""
[http]
listen = ["{h.LOOPBACK}:{public}"]
admin_listen = ["{h.LOOPBACK}:{admin}"]
tls_cert = "{cert}"
tls_key = "{key_file}"
"""
    m = mta.milter(mta.config({}, extra=extra), start=False)
    cp = h.sesctl("-c", str(m.config_path), "apikey", "create", "ops", "--json", binary=sesctl_bin)
    key = json.loads(cp.stdout)["key"]
    m.start()
    h.wait_port(public)
    h.wait_port(admin)
    ctx = ssl.create_default_context(cafile=str(cert))

    def get(port, path):
        req = urllib.request.Request(f"https://{h.LOOPBACK}:{port}{path}",
                                     headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    code, body = get(admin, "/v1/stats")
    assert code == 200, body
    assert json.loads(body)["Total"]["RequestCount"] == 0
    assert get(public, "/v1/stats")[0] == 404       # operator routes are not on listen
    assert get(public, "/o/token")[0] == 404        # the public stub is
    assert get(admin, "/metrics")[0] == 200
    # Plain HTTP on a TLS port gets no answer.
    try:
        urllib.request.urlopen(f"http://{h.LOOPBACK}:{admin}/v1/stats", timeout=5)
        assert False, "plain HTTP answered on a TLS port"
    except (urllib.error.URLError, ConnectionError, OSError):
        pass


def test_http_busy_port_fails_start_up(sesmilter_bin, keys, e2e_root):
    """A port that cannot be bound stops sesmilter at start-up with a message
    naming the address; no milter socket is left behind."""
    import socket
    import subprocess
    d = e2e_root / "http_busy"
    d.mkdir(parents=True, exist_ok=True)
    busy = socket.socket()
    busy.bind((h.LOOPBACK, 0))
    busy.listen(1)
    addr = f"{h.LOOPBACK}:{busy.getsockname()[1]}"
    try:
        text = h.sesmilter_config(f"unix:{d / 'milter.sock'}", {"example.com": [keys.rsa]},
                                  extra=f'[store]\npath = "{d}/store"\n\n[http]\nlisten = ["{addr}"]\n')
        path = d / "sesmilter.toml"
        path.write_text(text)
        cp = subprocess.run([str(sesmilter_bin), "-c", str(path), "-f"], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
        assert cp.returncode != 0, cp.stderr
        assert f"http: cannot listen on {addr}" in cp.stderr, cp.stderr
        assert not (d / "milter.sock").exists()
    finally:
        busy.close()
