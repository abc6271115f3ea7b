#!/usr/bin/python3
"""check-deps.py -- fail when src/ breaks its layering (docs/ARCHITECTURE.md, "Layers").

Two rules, checked on every #include of src/**/*.cpp and *.hpp:
  1. A folder includes only folders of its own layer or of layers before it.
     Folders of one layer may include each other, but not in a cycle.
  2. A C library's headers are included only in the folder(s) that own it.
Violations still present while a refactor is under way are listed, one per
line with the reason, in scripts/deps-allow.txt; an entry that no longer
matches anything is an error too, so the list only shrinks.

Exit 0 when clean, 1 with one line per violation, 2 on a usage error.
Usage: scripts/check-deps.py [REPO_ROOT]
"""

import re
import sys
from pathlib import Path

# Layers, first to last; a folder may include its own layer and earlier ones.
LAYERS = [
    ["util"],
    ["config"],
    ["mail", "crypto"],
    ["dns", "dkim", "auth", "store", "template"],
    ["policy"],
    ["mta"],
    ["warmup", "records"],
    ["services"],
    ["milter"],
    ["ctl"],
    ["main"],
]

# C library -> (header patterns, folders allowed to include them).
LIBRARIES = {
    "libmilter": ([r"libmilter/"], ["milter"]),
    "libsystemd": ([r"systemd/sd-"], ["milter"]),
    "libopendkim": ([r"opendkim/", r"dkim\.h$"], ["dkim"]),
    "libspf2": ([r"spf2/"], ["auth"]),
    "libopendmarc": ([r"opendmarc/"], ["auth"]),
    "LMDB": ([r"lmdb\.h$"], ["store"]),
    "hiredis": ([r"hiredis/", r"hiredis\.h$"], ["store"]),
    "Lua": ([r"lua\.hpp?$", r"lauxlib\.h$", r"lualib\.h$", r"luaconf\.h$"], ["policy"]),
    "GMime": ([r"gmime/", r"glib\.h$", r"glib/", r"gio/"], ["mail"]),
    "libunbound": ([r"unbound\.h$"], ["dns"]),
    "OpenSSL": ([r"openssl/"], ["dkim", "crypto"]),
    "toml++": ([r"toml\+\+/"], ["config"]),
    "libcurl": ([r"curl/"], ["services"]),
    "libmicrohttpd": ([r"microhttpd\.h$"], ["services"]),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def rank_of():
    ranks = {}
    for i, layer in enumerate(LAYERS):
        for folder in layer:
            ranks[folder] = i
    return ranks


def read_allow(path):
    """Lines 'FILE HEADER  # reason'; returns {(file, header): line_no}."""
    allow = {}
    if not path.exists():
        return allow
    for n, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 2 or "#" not in line:
            sys.exit(f"{path}:{n}: expected 'FILE HEADER  # reason'")
        allow[(parts[0], parts[1])] = n
    return allow


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    src = root / "src"
    if not src.is_dir():
        print(f"check-deps: {src}: not a directory", file=sys.stderr)
        return 2
    ranks = rank_of()
    allow_path = root / "scripts" / "deps-allow.txt"
    allow = read_allow(allow_path)
    used = set()
    problems = []
    edges = {}  # folder -> {folder: first "file:line"}

    files = sorted(p for p in src.rglob("*") if p.suffix in (".cpp", ".hpp"))
    for f in files:
        rel = f.relative_to(root).as_posix()
        folder = f.relative_to(src).parts[0]
        if folder not in ranks:
            problems.append(f"{rel}: folder src/{folder}/ has no layer in scripts/check-deps.py")
            continue
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, header = m.groups()
            why = None
            if kind == '"':
                target = header.split("/", 1)[0]
                if "/" not in header or target == folder:
                    continue
                if target not in ranks:
                    continue  # not a src/ folder (e.g. a vendored header)
                edges.setdefault(folder, {}).setdefault(target, f"{rel}:{n}")
                if ranks[target] > ranks[folder]:
                    why = f"src/{folder}/ includes src/{target}/, a later layer"
            else:
                for lib, (patterns, owners) in LIBRARIES.items():
                    if any(re.search(p, header) for p in patterns) and folder not in owners:
                        owners_text = " and ".join(f"src/{o}/" for o in owners)
                        why = f"{lib} header outside {owners_text}"
                        break
            if why is None:
                continue
            if (rel, header) in allow:
                used.add((rel, header))
                continue
            problems.append(f"{rel}:{n}: {why}: #include {kind}{header}{'>' if kind == '<' else kind}")

    # Folders of one layer may include each other, but never both ways.
    for a, targets in sorted(edges.items()):
        for b, where in sorted(targets.items()):
            if a < b and a in edges.get(b, {}):
                problems.append(f"{where}: src/{a}/ and src/{b}/ include each other "
                                f"(also {edges[b][a]})")

    for key, n in sorted(allow.items(), key=lambda kv: kv[1]):
        if key not in used:
            problems.append(f"{allow_path.relative_to(root)}:{n}: stale entry {key[0]} {key[1]}: "
                            f"no such violation any more, remove the line")

    for p in problems:
        print(f"check-deps: {p}")
    if problems:
        print(f"check-deps: {len(problems)} problem(s); layers and owners: docs/ARCHITECTURE.md",
              file=sys.stderr)
        return 1
    print(f"check-deps: {len(files)} files, layering holds ({len(allow)} allowed exception(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
