#!/usr/bin/env python3
"""Plain TCP relay in front of Dovecot's plaintext (STARTTLS) listeners.

    loopback-relay.py --source 127.0.0.2 [--port-file FILE] NAME=TARGET_PORT ...

Why: Dovecot's login processes treat a connection whose remote IP equals the local
IP (127.0.0.1 -> 127.0.0.1) as "secured": plaintext auth is then allowed before
STARTTLS and LOGINDISABLED is not advertised, i.e. disable_plaintext_auth has no
effect for local clients. This relay listens on 127.0.0.1 (port chosen by the
kernel) and connects to Dovecot on 127.0.0.1:TARGET_PORT *from* --source (another
loopback address, only used as the source of outgoing connections), so Dovecot
sees a "remote" client and behaves as it would for a real one. Bytes are copied
verbatim in both directions (STARTTLS works end to end).

Prints one JSON line {"NAME": listen_port, ..., "source": "127.0.0.2"|null} on stdout
(and writes it atomically to --port-file). "source" is null when binding the source
address failed at startup (then connections come from 127.0.0.1 and Dovecot treats
them as secured). Python 3 standard library only. Exits 0 on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import sys

BUF = 65536


def source_usable(source):
    if not source:
        return False
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((source, 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(BUF)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass


def make_handler(target_port, source):
    async def handle(c_reader, c_writer):
        try:
            kw = {"local_addr": (source, 0)} if source else {}
            s_reader, s_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", target_port, **kw), 10)
        except (OSError, asyncio.TimeoutError) as e:
            print("loopback-relay: connect to %d failed: %r" % (target_port, e), file=sys.stderr)
            c_writer.close()
            return
        try:
            await asyncio.gather(pump(c_reader, s_writer), pump(s_reader, c_writer))
        finally:
            for w in (s_writer, c_writer):
                try:
                    w.close()
                except Exception:
                    pass
    return handle


async def main_async(args):
    source = args.source if source_usable(args.source) else None
    if args.source and not source:
        print("loopback-relay: cannot bind source %s; relaying from 127.0.0.1" % args.source,
              file=sys.stderr)
    servers = []
    out = {}
    for spec in args.mapping:
        name, _, port = spec.partition("=")
        srv = await asyncio.start_server(make_handler(int(port), source), "127.0.0.1", 0)
        servers.append(srv)
        out[name] = srv.sockets[0].getsockname()[1]
    out["source"] = source
    line = json.dumps(out)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(line + "\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="127.0.0.2")
    ap.add_argument("--port-file")
    ap.add_argument("mapping", nargs="+", metavar="NAME=TARGET_PORT")
    args = ap.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
