#!/usr/bin/env python3
"""Minimal SMTP sink for the oauthmail mail sandbox (Python 3 standard library only).

    smtp-sink.py --dir DIR [--host 127.0.0.1] [--port 0] [--port-file FILE]
                 [--reject-rcpt ADDR]... [--max-size BYTES] [--hostname NAME]

Listens on HOST:PORT (loopback only; port 0 = pick a free one). Prints the port as
the first stdout line (and writes it atomically to --port-file). Each accepted
message is stored as DIR/<n>.eml (exact bytes after dot-unstuffing, CRLF kept) and
then DIR/<n>.json = {"mail_from", "rcpt_to", "size", "helo", "mail_params",
"received_at"}; the .json appears last, so a reader that sees it also sees the .eml.
Numbering continues after the highest number already in DIR.

Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP (STARTTLS/AUTH/BDAT: 502).
--reject-rcpt ADDR (repeatable, case-insensitive) answers 550 for that recipient.
Command lines are limited to 4096 bytes, data lines to 1 MiB, messages to
--max-size (default 50 MiB, advertised in EHLO SIZE). Exits 0 on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time

CMD_LIMIT = 4096
DATA_LINE_LIMIT = 1024 * 1024
IDLE_TIMEOUT = 300

ADDR_RE = re.compile(r"^\s*<([^<>]*)>\s*(.*)$")


class Store:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        n = 0
        for name in os.listdir(directory):
            m = re.match(r"^(\d+)\.(eml|json)$", name)
            if m:
                n = max(n, int(m.group(1)))
        self.next = n + 1

    def save(self, data, meta):
        n = self.next
        self.next += 1
        eml = os.path.join(self.dir, "%d.eml" % n)
        js = os.path.join(self.dir, "%d.json" % n)
        with open(eml + ".tmp", "wb") as f:
            f.write(data)
        os.replace(eml + ".tmp", eml)
        with open(js + ".tmp", "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False)
            f.write("\n")
        os.replace(js + ".tmp", js)
        return n


class LineTooLong(Exception):
    pass


async def read_line(reader, limit):
    """Return one line (bytes incl. terminator), None on EOF; raise LineTooLong
    after discarding the rest of an over-long line."""
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT)
    except asyncio.IncompleteReadError as e:
        return e.partial or None
    except asyncio.LimitOverrunError as e:
        # discard up to and including the next LF
        await reader.readexactly(e.consumed)
        while True:
            try:
                await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT)
                break
            except asyncio.LimitOverrunError as e2:
                await reader.readexactly(e2.consumed)
            except asyncio.IncompleteReadError:
                return None
        raise LineTooLong()
    if len(line) > limit:
        raise LineTooLong()
    return line


def parse_path(arg, keyword):
    """'FROM:<a@b> SIZE=1' -> ('a@b', ['SIZE=1']); None if malformed."""
    if not arg.upper().startswith(keyword + ":"):
        return None
    rest = arg[len(keyword) + 1:]
    m = ADDR_RE.match(rest)
    if not m:
        # tolerate a bare address without brackets
        parts = rest.strip().split()
        if not parts:
            return None
        addr, params = parts[0], parts[1:]
    else:
        addr, params = m.group(1), m.group(2).split()
    # strip source route "@a,@b:user@host"
    if addr.startswith("@") and ":" in addr:
        addr = addr.split(":", 1)[1]
    return addr, params


class Session:
    def __init__(self, server, reader, writer):
        self.srv = server
        self.r = reader
        self.w = writer
        self.helo = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.mail_params = []
        self.rcpt_to = []

    async def reply(self, text):
        self.w.write(text.encode("utf-8") + b"\r\n")
        await self.w.drain()

    async def run(self):
        await self.reply("220 %s ESMTP oauthmail-sink ready" % self.srv.hostname)
        while True:
            try:
                line = await read_line(self.r, CMD_LIMIT)
            except LineTooLong:
                await self.reply("500 5.5.2 Line too long")
                continue
            except asyncio.TimeoutError:
                await self.reply("421 4.4.2 Idle timeout, closing connection")
                return
            if line is None:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                await self.reply("500 5.5.1 Command unrecognized")
                continue
            if await handler(arg.strip()) is False:
                return

    async def cmd_EHLO(self, arg):
        if not arg:
            return await self.reply("501 5.5.4 EHLO needs a domain")
        self.helo = arg
        self.reset()
        await self.reply(
            "250-%s\r\n250-PIPELINING\r\n250-SIZE %d\r\n250-8BITMIME\r\n"
            "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP" % (self.srv.hostname, self.srv.max_size)
        )

    async def cmd_HELO(self, arg):
        if not arg:
            return await self.reply("501 5.5.4 HELO needs a domain")
        self.helo = arg
        self.reset()
        await self.reply("250 %s" % self.srv.hostname)

    async def cmd_MAIL(self, arg):
        if self.helo is None:
            return await self.reply("503 5.5.1 Send EHLO/HELO first")
        if self.mail_from is not None:
            return await self.reply("503 5.5.1 Sender already given")
        parsed = parse_path(arg, "FROM")
        if parsed is None:
            return await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        addr, params = parsed
        for p in params:
            k, _, v = p.partition("=")
            if k.upper() == "SIZE":
                if not v.isdigit():
                    return await self.reply("501 5.5.4 Bad SIZE parameter")
                if int(v) > self.srv.max_size:
                    return await self.reply("552 5.3.4 Message size exceeds fixed limit")
        self.mail_from = addr
        self.mail_params = params
        await self.reply("250 2.1.0 Ok")

    async def cmd_RCPT(self, arg):
        if self.mail_from is None:
            return await self.reply("503 5.5.1 Need MAIL before RCPT")
        parsed = parse_path(arg, "TO")
        if parsed is None or not parsed[0]:
            return await self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        addr = parsed[0]
        if addr.lower() in self.srv.reject:
            return await self.reply("550 5.1.1 <%s>: Recipient address rejected" % addr)
        if len(self.rcpt_to) >= 1000:
            return await self.reply("452 4.5.3 Too many recipients")
        self.rcpt_to.append(addr)
        await self.reply("250 2.1.5 Ok")

    async def cmd_DATA(self, arg):
        if self.mail_from is None:
            return await self.reply("503 5.5.1 Need MAIL command")
        if not self.rcpt_to:
            return await self.reply("503 5.5.1 Need RCPT command")
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        chunks = []
        size = 0
        error = None
        while True:
            try:
                line = await read_line(self.r, DATA_LINE_LIMIT)
            except LineTooLong:
                error = error or "500 5.5.2 Line too long"
                continue
            except asyncio.TimeoutError:
                await self.reply("421 4.4.2 Timeout during DATA, closing connection")
                return False
            if line is None:
                return False  # connection lost mid-message: nothing stored
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > self.srv.max_size:
                error = error or "552 5.3.4 Message size exceeds fixed limit"
                chunks = []
                continue
            if error is None:
                chunks.append(line)
        if error:
            self.reset()
            return await self.reply(error)
        data = b"".join(chunks)
        meta = {
            "mail_from": self.mail_from,
            "rcpt_to": list(self.rcpt_to),
            "size": len(data),
            "helo": self.helo,
            "mail_params": self.mail_params,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        n = self.srv.store.save(data, meta)
        self.reset()
        await self.reply("250 2.0.0 Ok: queued as %d" % n)

    async def cmd_RSET(self, arg):
        self.reset()
        await self.reply("250 2.0.0 Ok")

    async def cmd_NOOP(self, arg):
        await self.reply("250 2.0.0 Ok")

    async def cmd_VRFY(self, arg):
        await self.reply("252 2.1.5 Cannot VRFY user")

    async def cmd_HELP(self, arg):
        await self.reply("214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP")

    async def cmd_QUIT(self, arg):
        await self.reply("221 2.0.0 Bye")
        return False

    async def _not_impl(self, arg):
        await self.reply("502 5.5.1 Command not implemented")

    cmd_STARTTLS = cmd_AUTH = cmd_BDAT = cmd_EXPN = cmd_ETRN = _not_impl


class Server:
    def __init__(self, args):
        self.hostname = args.hostname
        self.max_size = args.max_size
        self.reject = {a.lower() for a in args.reject_rcpt}
        self.store = Store(args.dir)

    async def handle(self, reader, writer):
        s = Session(self, reader, writer)
        try:
            await s.run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as e:  # keep serving other clients
            print("smtp-sink: session error: %r" % (e,), file=sys.stderr)
        finally:
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 5)
            except Exception:
                pass


async def main_async(args):
    srv = Server(args)
    server = await asyncio.start_server(srv.handle, args.host, args.port, limit=DATA_LINE_LIMIT + 2)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
        server.close()


def main():
    ap = argparse.ArgumentParser(description="SMTP sink for the oauthmail mail sandbox")
    ap.add_argument("--dir", required=True, help="where to store <n>.eml / <n>.json")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR")
    ap.add_argument("--max-size", type=int, default=50 * 1024 * 1024)
    ap.add_argument("--hostname", default="sink.example.test")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("--host must be a loopback address")
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
