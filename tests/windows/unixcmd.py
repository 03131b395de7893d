#!/usr/bin/env python3
"""tests/windows/unixcmd.py SPOOL LOG NAME=PROGRAM... -- TESTS UNDER WINE ONLY.

The host side of tests/windows/unixcmd.c (read its header): runs, on Linux, the programs that
Windows test programs start by name under Wine (node.exe, python3.exe stand-ins), and answers
with their output and exit status.

Watches SPOOL for <id>.req files (the program's name, then its arguments, UTF-8, each followed by
a NUL). NAME=PROGRAM pairs say which host program each name runs (absolute paths); any other name
is refused (exit status 127). Arguments that are Windows paths on Wine's Z: drive (Z:\\a\\b) are
passed as the Unix paths they stand for (/a/b), so the Windows side passes the same paths it uses
itself. Each call runs in its own thread, with this process's environment and standard input
from /dev/null; its stdout and stderr go to <id>.out and <id>.err, then its exit status to
<id>.rc (renamed into place last). One line per call in LOG. Exits when its parent process does
(or when killed).
"""
import os
import re
import subprocess
import sys
import threading
import time

WIN_Z = re.compile(r"^[Zz]:\\")
TIMEOUT_S = int(os.environ.get("OMW_UNIXCMD_TIMEOUT", "600"))


def unix_arg(arg):
    return arg[2:].replace("\\", "/") if WIN_Z.match(arg) else arg


def write_file(path, data):
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def serve(spool, base, programs, log, lock):
    try:
        serve_one(spool, base, programs, log, lock)
    except Exception as e:  # an answer all the same: the Windows side waits for <id>.rc
        write_file(os.path.join(spool, base + ".err"), ("unixcmd.py: %r\n" % e).encode())
        write_file(os.path.join(spool, base + ".rc"), b"127")


def serve_one(spool, base, programs, log, lock):
    run = os.path.join(spool, base + ".run")
    t0 = time.monotonic()
    with open(run, "rb") as f:
        parts = f.read().split(b"\0")[:-1]
    name = parts[0].decode("utf-8", "surrogateescape") if parts else ""
    args = [unix_arg(p.decode("utf-8", "surrogateescape")) for p in parts[1:]]
    if name not in programs:
        out, err, rc = b"", ("unixcmd.py: no host program for %r\n" % name).encode(), 127
    else:
        try:
            p = subprocess.run([programs[name]] + args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
            out, err, rc = p.stdout, p.stderr, p.returncode if p.returncode >= 0 else 128 - p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = e.stdout or b"", (e.stderr or b"") + b"\nunixcmd.py: timed out\n", 124
        except OSError as e:
            out, err, rc = b"", ("unixcmd.py: %s\n" % e).encode(), 127
    write_file(os.path.join(spool, base + ".out"), out)
    write_file(os.path.join(spool, base + ".err"), err)
    write_file(os.path.join(spool, base + ".rc"), str(rc).encode())
    os.remove(run)
    with lock, open(log, "a", encoding="utf-8", errors="replace") as f:
        f.write("%s %s %s -> %d (%.1f s)%s\n" % (
            time.strftime("%H:%M:%S"), name, " ".join(args), rc, time.monotonic() - t0,
            "" if rc == 0 else "; stderr: " + err.decode("utf-8", "replace").strip()[-300:]))


def main():
    spool, log = sys.argv[1], sys.argv[2]
    programs = dict(a.split("=", 1) for a in sys.argv[3:])
    parent = os.getppid()
    lock = threading.Lock()
    os.makedirs(spool, exist_ok=True)
    while os.getppid() == parent:
        for entry in os.scandir(spool):
            if not entry.name.endswith(".req"):
                continue
            base = entry.name[:-4]
            try:
                os.rename(entry.path, os.path.join(spool, base + ".run"))
            except FileNotFoundError:
                continue
            threading.Thread(target=serve, args=(spool, base, programs, log, lock), daemon=True).start()
        time.sleep(0.01)


if __name__ == "__main__":
    main()
