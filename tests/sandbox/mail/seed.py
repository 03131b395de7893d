#!/usr/bin/env python3
"""Fill a sandbox mailbox quickly by writing Maildir files directly (stdlib only).

    seed.py MAILDIR_ROOT USER COUNT [--folder NAME] [--size-kb N] [--seed S]
            [--new] [--seen] [--subject-prefix TEXT] [--eml FILE]...

MAILDIR_ROOT is mail.json's "maildir_root"; the mailbox is MAILDIR_ROOT/USER/Maildir
(start.sh: mail_location = maildir:WORKDIR/mail/%u/Maildir, users lower-case).
--folder NAME: IMAP name in UTF-8 with "/" as hierarchy separator ("INBOX" default);
  stored like Dovecot 2.3's Maildir++ layout: ".Comp1.Comp2" with each component in
  IMAP modified UTF-7 ("Clients/Société" -> ".Clients.Soci&AOk-t&AOk-"). Created if
  missing (parents appear as \\Noselect in LIST, exactly as when Dovecot creates it).
Messages: RFC 5322, LF line endings (Maildir convention), headers Message-ID, Date,
From, To, Subject, MIME-Version, Content-Type text/plain UTF-8, X-Seed-Index; body
of about --size-kb KiB (default 1). File names carry ,S=<size>,W=<CRLF size> like
Dovecot's own, mtime = Date (Dovecot's INTERNALDATE). Default into cur/ without
flags (unseen, not \\Recent); --new puts them into new/; --seen adds the S flag.
--seed S makes content and Message-IDs deterministic (<seed-S-i@example.test>; the
index continues after messages already in the folder so IDs stay unique).
Everything created is chowned to omtestmail when run as root.
Dovecot indexes the new files on the next access of the mailbox.
Prints a JSON summary line.
"""

import argparse
import base64
import email.utils
import json
import os
import pwd
import random
import socket
import sys
import time

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee "
         "zulu oauth token mailbox folder message seed sandbox dovecot imap pop submission").split()


def mutf7_encode(s):
    """IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode("ascii").rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def folder_dir(maildir, folder):
    if folder.upper() == "INBOX":
        return maildir
    parts = [p for p in folder.split("/")]
    if parts[0].upper() == "INBOX" and len(parts) > 1:
        parts = parts[1:]  # INBOX/x is a sibling-level name in Dovecot's Maildir++
    for p in parts:
        if not p or "." in p or p in (".", ".."):
            sys.exit("seed.py: invalid folder component %r (empty or contains '.')" % p)
    return os.path.join(maildir, "." + ".".join(mutf7_encode(p) for p in parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("maildir_root")
    ap.add_argument("user")
    ap.add_argument("count", type=int)
    ap.add_argument("--folder", default="INBOX")
    ap.add_argument("--size-kb", type=float, default=1.0)
    ap.add_argument("--seed")
    ap.add_argument("--new", action="store_true")
    ap.add_argument("--seen", action="store_true")
    ap.add_argument("--subject-prefix", default="Test message")
    ap.add_argument("--eml", action="append", default=[], metavar="FILE",
                    help="store this message file as is (CRLF turned into LF), after the COUNT generated ones")
    a = ap.parse_args()
    if a.count < 0:
        sys.exit("seed.py: COUNT must be >= 0")

    user = a.user.lower()
    try:
        pw = pwd.getpwnam("omtestmail")
        uid, gid = pw.pw_uid, pw.pw_gid
    except KeyError:
        uid = gid = None
    do_chown = os.geteuid() == 0 and uid is not None

    def chown(path):
        if do_chown:
            os.chown(path, uid, gid)

    def mkdir(path):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700, exist_ok=True)
            chown(path)

    home = os.path.join(a.maildir_root, user)
    maildir = os.path.join(home, "Maildir")
    for d in (home, maildir):
        mkdir(d)
    for sub in ("cur", "new", "tmp"):
        mkdir(os.path.join(maildir, sub))
    fdir = folder_dir(maildir, a.folder)
    mkdir(fdir)
    for sub in ("cur", "new", "tmp"):
        mkdir(os.path.join(fdir, sub))
    if fdir != maildir:
        mf = os.path.join(fdir, "maildirfolder")
        if not os.path.exists(mf):
            open(mf, "w").close()
            chown(mf)

    existing = len(os.listdir(os.path.join(fdir, "cur"))) + len(os.listdir(os.path.join(fdir, "new")))
    rng = random.Random(a.seed if a.seed is not None else os.urandom(16))
    token = ("seed-%s" % a.seed) if a.seed is not None else ("run-%x-%d" % (int(time.time() * 1e6), os.getpid()))
    host = socket.gethostname().replace("/", "_").replace(":", "_") or "localhost"
    target = max(0, int(a.size_kb * 1024))
    base_ts = 1704067200  # 2024-01-01T00:00:00Z; message i is i minutes later
    sub_dir = "new" if a.new else "cur"
    flags = "" if a.new else (":2,S" if a.seen else ":2,")
    now = time.time()
    total = 0
    for k in range(a.count):
        i = existing + k
        ts = base_ts + 60 * i
        lines, size = [], 0
        while size < target:
            line = " ".join(rng.choice(WORDS) for _ in range(11))[:72]
            lines.append(line)
            size += len(line) + 1
        body = "\n".join(lines) + "\n" if lines else "\n"
        hdr = (
            "Message-ID: <%s-%d@example.test>\n"
            "Date: %s\n"
            "From: Sender %d <sender%d@example.test>\n"
            "To: %s\n"
            "Subject: %s %d\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "X-Seed-Index: %d\n"
            "\n" % (token, i, email.utils.formatdate(ts, localtime=False), i % 50, i % 50,
                    user, a.subject_prefix, i + 1, i))
        data = (hdr + body).encode("utf-8")
        vsize = len(data) + data.count(b"\n")
        name = "%d.M%dP%dQ%d.%s,S=%d,W=%d" % (int(now), k, os.getpid(), i, host, len(data), vsize)
        tmp = os.path.join(fdir, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            if do_chown:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.utime(tmp, (ts, ts))
        os.rename(tmp, os.path.join(fdir, sub_dir, name + flags))
        total += len(data)
    for k, path in enumerate(a.eml):
        with open(path, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n")
        vsize = len(data) + data.count(b"\n")
        name = "%d.E%dP%d.%s,S=%d,W=%d" % (int(now), k, os.getpid(), host, len(data), vsize)
        tmp = os.path.join(fdir, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            if do_chown:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(fdir, sub_dir, name + flags))
        total += len(data)
    print(json.dumps({"user": user, "folder": a.folder, "dir": fdir, "count": a.count,
                      "bytes": total, "first_index": existing}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
