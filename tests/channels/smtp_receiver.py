#!/usr/bin/python3
"""An SMTP relay for trêve's tests: Debian's python3-aiosmtpd on 127.0.0.1.

Usage (run it with /usr/bin/python3, the interpreter Debian's package is installed for):

  smtp_receiver.py --dir DIR [--port N] [--cert PEM --key PEM [--implicit-tls]]
                   [--username U --password P]
                   [--temp-fail PREFIX]... [--perm-fail PREFIX]... [--slow PREFIX:MS]...

  --dir        where messages are saved (created if missing)
  --port       the port to listen on; 0 (the default): one the system picks
  --cert/--key a server certificate and its key: STARTTLS is offered (and required before
               MAIL when --username is given). Without them, no STARTTLS.
  --implicit-tls  TLS from the first byte instead (what smtps:// expects), no STARTTLS
  --username/--password
               AUTH (PLAIN or LOGIN) with these is required before MAIL; only after STARTTLS
               when TLS is offered (auth_require_tls)
  --temp-fail  RCPT TO an address starting with PREFIX is answered 451 4.3.0 (try again later)
  --perm-fail  RCPT TO an address starting with PREFIX is answered 550 5.1.1 (no such user)
  --slow       a message to an address starting with PREFIX is answered MS milliseconds after
               its final dot (a relay busy scanning it)

Once listening it prints "port N" on a line of its own on stdout (flushed). Then, for each
message accepted, before answering 250 to the final dot:

  DIR/NNNNNN.eml   the message exactly as received (dot-stuffing undone), N counting from 1
  DIR/NNNNNN.json  {"mail_from", "rcpt_tos", "tls": bool, "login": str|null, "connection": int}

and DIR/connections holds the number of TCP connections accepted so far (rewritten at each
one), so that a test can tell a connection reused from a new one. Every file is written to a
temporary name and renamed: a reader never sees half of one. It runs until killed.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Receiver:
    def __init__(self, args):
        self.dir = args.dir
        self.temp_fail = args.temp_fail or []
        self.perm_fail = args.perm_fail or []
        self.slow = []
        for spec in args.slow or []:
            prefix, _, ms = spec.rpartition(":")
            self.slow.append((prefix, int(ms) / 1000.0))
        self.username = args.username
        self.password = args.password
        self.messages = 0
        self.connections = 0

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)

    def connected(self):
        self.connections += 1
        self.write("connections", str(self.connections).encode())
        return self.connections

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", "replace") == self.username
            and auth_data.password.decode("utf-8", "replace") == self.password
        )
        if not ok:
            # Not handled here: aiosmtpd answers 535 5.7.8 itself.
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if any(address.startswith(p) for p in self.temp_fail):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if any(address.startswith(p) for p in self.perm_fail):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for prefix, seconds in self.slow:
            if any(a.startswith(prefix) for a in envelope.rcpt_tos):
                await asyncio.sleep(seconds)
                break
        self.messages += 1
        name = "%06d" % self.messages
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        self.write(name + ".eml", envelope.original_content)
        info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None or getattr(server, "implicit_tls", False),
            "login": login,
            "connection": getattr(server, "connection_number", 0),
        }
        self.write(name + ".json", json.dumps(info).encode())
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description="trêve's test SMTP relay")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--username")
    parser.add_argument("--password", default="")
    parser.add_argument("--temp-fail", action="append")
    parser.add_argument("--perm-fail", action="append")
    parser.add_argument("--slow", action="append")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    receiver = Receiver(args)
    auth = args.username is not None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    starttls = tls if not args.implicit_tls else None

    def session():
        number = receiver.connected()
        smtp = SMTP(
            receiver,
            hostname="localhost",
            tls_context=starttls,
            require_starttls=starttls is not None and auth,
            auth_required=auth,
            # Over implicit TLS aiosmtpd does not know the session is encrypted.
            auth_require_tls=starttls is not None,
            authenticator=receiver.authenticate if auth else None,
            loop=loop,
        )
        smtp.connection_number = number
        smtp.implicit_tls = args.implicit_tls
        return smtp

    server = loop.run_until_complete(
        loop.create_server(
            session, "127.0.0.1", args.port, ssl=tls if args.implicit_tls else None
        )
    )
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
