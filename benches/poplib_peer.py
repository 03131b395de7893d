#!/usr/bin/env python3
"""The Python peer of benches/fetch_pop3.rs: Python's poplib fetching a whole mailbox over
POP3S as a plain poplib user does it: AUTH XOAUTH2, STAT, LIST, then RETR 1..n one at a time
(each RETR waits for the previous message), reading every byte of every message; QUIT
(nothing is deleted).

    poplib_peer.py --port N --ca CA_PEM --user USER --tokens TOKENS_JSON [--host 127.0.0.1]

TOKENS_JSON is an oauthmail token export (its "access_token" is used with SASL XOAUTH2).
poplib has no AUTH helper: the command goes out as `AUTH XOAUTH2 <initial response>`
(RFC 5034's initial response) and must be answered `+OK`.
Prints one JSON line: count, bytes (each message as handed over by oauthmail: dot-unstuffed,
CR LF line ends, without the final "."), seconds (connect to QUIT, checksum included),
checksum_seconds (the part spent reading the bytes), cpu_seconds (user + system, same span),
vmhwm_kb (peak RSS, ru_maxrss) and baseline_kb (peak RSS before connecting).
Standard library only.
"""

import argparse
import base64
import json
import poplib
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
    a = ap.parse_args()
    with open(a.tokens) as f:
        token = json.load(f)["access_token"]
    ctx = ssl.create_default_context(cafile=a.ca)
    sasl = ("user=%s\x01auth=Bearer %s\x01\x01" % (a.user, token)).encode()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    baseline = r0.ru_maxrss

    t0 = time.perf_counter()
    pop = poplib.POP3_SSL(a.host, a.port, context=ctx)
    pop._putcmd("AUTH XOAUTH2 " + base64.b64encode(sasl).decode("ascii"))
    resp, _ = pop._getline()
    if resp.startswith(b"+ "):
        # the server's error challenge (a JSON status): an empty response ends the exchange
        pop._putcmd("")
        resp, _ = pop._getline()
    if not resp.startswith(b"+OK"):
        sys.exit("poplib_peer: AUTH XOAUTH2 refused: %r" % (resp,))
    listed, _size = pop.stat()
    _, listing, _ = pop.list()
    if len(listing) != listed:
        sys.exit("poplib_peer: STAT says %d messages, LIST %d" % (listed, len(listing)))
    count = nbytes = 0
    check = 1
    checksum_seconds = 0.0
    for n in range(1, listed + 1):
        _, lines, _ = pop.retr(n)
        t = time.perf_counter()
        # the message as oauthmail hands it over: CR LF line ends, dot-unstuffed
        body = b"\r\n".join(lines) + b"\r\n"
        check = zlib.adler32(body, check)
        count += 1
        nbytes += len(body)
        checksum_seconds += time.perf_counter() - t
    pop.quit()
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "count": count,
        "bytes": nbytes,
        "seconds": t1 - t0,
        "checksum_seconds": checksum_seconds,
        "checksum": check,
        "cpu_seconds": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
        "vmhwm_kb": r1.ru_maxrss,
        "baseline_kb": baseline,
    }))


if __name__ == "__main__":
    main()
