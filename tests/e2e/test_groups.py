"""Recipient groups over the HTTP API and sesctl: create, list, import CSV
(bad rows reported with their line numbers, repeats counted, limits) and
JSON {Datas}, export, remove members, delete; the API and `sesctl group
--json` print the same documents."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import harness as h


def call(port, key, method, path, body=None, content_type="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else
                                      (body.encode() if isinstance(body, str) else json.dumps(body).encode()))
    req = urllib.request.Request(f"http://{h.LOOPBACK}:{port}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (raw.decode() if r.headers["Content-Type"].startswith("text/csv") else json.loads(raw))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_groups_api_and_sesctl(mta, keys, sesctl_bin):
    port = h.free_port()
    extra = f"""
[store]
path = "{mta.dir / 'store'}"

[http]
listen = ["{h.LOOPBACK}:{port}"]

[tasks]
max_rows = 5
max_row_bytes = 100
"""
    m = mta.milter(mta.config({"example.com": [keys.rsa]}, extra=extra), start=False)

    def ctl(*args, check=True):
        cp = h.sesctl("-c", str(m.config_path), *args, binary=sesctl_bin, check=check)
        return cp

    key = json.loads(ctl("apikey", "create", "ops", "--json").stdout)["key"]
    m.start()
    h.wait_port(port)

    code, r = call(port, key, "POST", "/v1/groups", {"Name": "customers"})
    assert code == 200
    gid = r["GroupId"]
    assert call(port, key, "POST", "/v1/groups", {"Name": "customers"})[0] == 400
    assert call(port, key, "POST", "/v1/groups", {"name": "x"})[0] == 400

    csv = ("email,name,note\r\n"
           "ana@remote.test,Ana,\"likes, commas\"\r\n"
           "bad-address,Bob,x\r\n"
           "carl@remote.test,Carl\r\n"
           "ANA@remote.test,Ana again,dup\r\n"
           "dora@remote.test,Dora,\"" + "x" * 120 + "\"\r\n"
           "eve@remote.test,\"Eve \"\"E\"\"\",\"two\nlines\"\r\n")
    code, rep = call(port, key, "POST", f"/v1/groups/{gid}/recipients", csv, "text/csv")
    assert code == 200, rep
    assert (rep["Added"], rep["Duplicates"], rep["Count"]) == (2, 1, 2)
    assert [(e["Line"], e["Message"].split(":")[0]) for e in rep["Errors"]] == [
        (3, "not an email address"), (4, "2 fields, the header has 3"), (6, "row longer than 100 bytes")]
    # Nothing good: 400 with the lines named.
    code, r = call(port, key, "POST", f"/v1/groups/{gid}/recipients", "email\nnope\n", "text/csv")
    assert code == 400 and "line 2" in r["error"]
    code, rep = call(port, key, "POST", f"/v1/groups/{gid}/recipients",
                     {"Datas": [{"Email": "fay@remote.test", "TemplateData": "{\"name\": \"Fay\"}"},
                                {"Email": "ana@remote.test", "TemplateData": {"name": "Ana 2"}}]})
    assert code == 200 and (rep["Added"], rep["Replaced"], rep["Count"]) == (1, 1, 3), rep
    # Over tasks.max_rows = 5: refused whole.
    code, r = call(port, key, "POST", f"/v1/groups/{gid}/recipients",
                   "email\n" + "".join(f"x{i}@remote.test\n" for i in range(3)), "text/csv")
    assert code == 400 and "max_rows" in r["error"]

    code, g = call(port, key, "GET", f"/v1/groups/{gid}")
    assert code == 200 and g["Count"] == 3 and g["GroupName"] == "customers"
    assert json.loads(ctl("group", "show", str(gid), "--json").stdout) == g
    code, lst = call(port, key, "GET", "/v1/groups")
    assert lst == json.loads(ctl("group", "list", "--json").stdout)
    code, text = call(port, key, "GET", f"/v1/groups/{gid}/export")
    assert code == 200
    assert text.splitlines()[0] == "email,name,note"
    assert 'eve@remote.test,"Eve ""E""","two' in text
    assert ctl("group", "export", str(gid)).stdout == text.replace("\r\n", "\n")

    code, r = call(port, key, "DELETE", f"/v1/groups/{gid}/recipients", {"Emails": ["Fay@remote.test"]})
    assert code == 200 and r["Removed"] == 1
    # sesctl: import a file, add, remove.
    f = mta.dir / "more.csv"
    f.write_text("email,name\ngus@remote.test,Gus\nwrong,W\n")
    out = ctl("group", "import", str(gid), str(f)).stdout
    assert "added 1" in out and "line 3: not an email address" in out
    ctl("group", "add", str(gid), "hal@remote.test", '{"name": "Hal"}')
    assert json.loads(ctl("group", "show", str(gid), "--json").stdout)["Count"] == 4
    ctl("group", "remove", str(gid), "hal@remote.test")
    code, r = call(port, key, "DELETE", f"/v1/groups/{gid}")
    assert code == 200
    assert call(port, key, "GET", f"/v1/groups/{gid}")[0] == 404
    assert call(port, key, "DELETE", f"/v1/groups/{gid}")[0] == 404
    assert ctl("group", "show", str(gid), check=False).returncode == 1
