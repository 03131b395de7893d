#!/usr/bin/env python3
"""The Python peer of benches/fetch_imap.rs: Python's imaplib fetching a whole mailbox in one
`UID FETCH 1:* (BODY.PEEK[])` over IMAPS, touching every byte of every message.

    imaplib_peer.py --port N --ca CA_PEM --user USER --tokens TOKENS_JSON [--host 127.0.0.1]
                    [--nothing-new N]

TOKENS_JSON is an oauthmail token export (its "access_token" is used with SASL XOAUTH2).
Prints one JSON line: count, bytes, seconds (connect to logout, checksum included),
checksum_seconds (the part spent reading the bytes), cpu_seconds (user + system, same
span), vmhwm_kb (peak RSS, ru_maxrss) and
baseline_kb (peak RSS before connecting). Standard library only.

--nothing-new N: instead, N times a "nothing new" check as imaplib does it: connect,
AUTHENTICATE XOAUTH2, EXAMINE INBOX (reading UIDNEXT), LOGOUT; prints {"seconds": [...]}.
"""

import argparse
import imaplib
import json
import resource
import ssl
import sys
import time
import zlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--nothing-new", type=int, default=0)
    a = ap.parse_args()
    with open(a.tokens) as f:
        token = json.load(f)["access_token"]
    ctx = ssl.create_default_context(cafile=a.ca)
    sasl = ("user=%s\x01auth=Bearer %s\x01\x01" % (a.user, token)).encode()
    if a.nothing_new:
        times = []
        for _ in range(a.nothing_new):
            t0 = time.perf_counter()
            imap = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx)
            imap.authenticate("XOAUTH2", lambda _challenge: sasl)
            typ, _ = imap.select("INBOX", readonly=True)
            _, uidnext = imap.response("UIDNEXT")
            if typ != "OK" or not uidnext or not uidnext[0]:
                sys.exit("imaplib_peer: EXAMINE INBOX gave no UIDNEXT")
            imap.logout()
            times.append(time.perf_counter() - t0)
        print(json.dumps({"seconds": times}))
        return
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    baseline = r0.ru_maxrss

    t0 = time.perf_counter()
    imap = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx)
    imap.authenticate("XOAUTH2", lambda _challenge: sasl)
    typ, _ = imap.select("INBOX", readonly=True)
    if typ != "OK":
        sys.exit("imaplib_peer: EXAMINE INBOX failed")
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    if typ != "OK":
        sys.exit("imaplib_peer: UID FETCH failed: %r" % (data[:1],))
    t1 = time.perf_counter()
    count = nbytes = 0
    check = 1
    for item in data:
        # (b'1 (UID 1 BODY[] {20531}', b'<the message>') for each message, then b')'
        if isinstance(item, tuple):
            body = item[1]
            check = zlib.adler32(body, check)
            count += 1
            nbytes += len(body)
    t2 = time.perf_counter()
    imap.logout()
    t3 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "count": count,
        "bytes": nbytes,
        "seconds": t3 - t0,
        "checksum_seconds": t2 - t1,
        "checksum": check,
        "cpu_seconds": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
        "vmhwm_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "baseline_kb": baseline,
    }))


if __name__ == "__main__":
    main()
