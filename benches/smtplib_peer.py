#!/usr/bin/env python3
"""The Python peer of benches/send_smtp.rs: Python's smtplib sending a folder of raw messages
over ONE implicit-TLS connection (SMTP_SSL), authenticated with SASL XOAUTH2.

    smtplib_peer.py --port N --ca CA_PEM --user USER --tokens TOKENS_JSON --messages DIR
                    --from ADDR --to ADDR [--host 127.0.0.1] [--plain]

DIR holds the messages as `NNNN.eml` (exact bytes, CRLF line endings); all are read into
memory before the clock starts. TOKENS_JSON is an oauthmail token export (its "access_token"
is used). Each message goes out with `sendmail(from, [to], bytes)` on the one connection.
Prints one JSON line: count, bytes, seconds (connect to the reply to QUIT), cpu_seconds
(user + system, same span), vmhwm_kb (ru_maxrss), extensions (the server's EHLO keywords).
--plain: plain SMTP without TLS or login instead (for the SMTP sink directly: the ceiling
the sink sets). Standard library only.
"""

import argparse
import json
import os
import resource
import smtplib
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--messages", required=True)
    ap.add_argument("--from", dest="sender", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--plain", action="store_true")
    a = ap.parse_args()
    with open(a.tokens) as f:
        token = json.load(f)["access_token"]
    names = sorted(n for n in os.listdir(a.messages) if n.endswith(".eml"))
    msgs = []
    for n in names:
        with open(os.path.join(a.messages, n), "rb") as f:
            msgs.append(f.read())
    ctx = ssl.create_default_context(cafile=a.ca)
    sasl = "user=%s\x01auth=Bearer %s\x01\x01" % (a.user, token)

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if a.plain:
        s = smtplib.SMTP(a.host, a.port)
        s.ehlo()
    else:
        s = smtplib.SMTP_SSL(a.host, a.port, context=ctx)
        s.ehlo()
        # the initial response carries the token; on a 334 (a refusal, XOAUTH2 style) answer
        # with an empty line so the server gives its final 535
        s.auth("XOAUTH2", lambda challenge=None: sasl if challenge is None else "")
    extensions = sorted(s.esmtp_features)
    sent = nbytes = 0
    for m in msgs:
        refused = s.sendmail(a.sender, [a.to], m)
        if refused:
            sys.exit("smtplib_peer: recipients refused: %r" % (refused,))
        sent += 1
        nbytes += len(m)
    s.quit()
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "count": sent,
        "bytes": nbytes,
        "seconds": t1 - t0,
        "cpu_seconds": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
        "vmhwm_kb": r1.ru_maxrss,
        "extensions": extensions,
    }))


if __name__ == "__main__":
    main()
