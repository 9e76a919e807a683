"""A real SMTP server for Doorward's mail tests (aiosmtpd).

Usage: python aiosmtpd_sink.py PORT FOLDER [USER PASSWORD]

Every message received becomes FOLDER/<n>.eml (the bytes as received),
next to <n>.json (the envelope: mail_from, rcpt_tos, authenticated). The
.eml appears last, whole (written under a temporary name, then renamed).
Recipients at @rejected.example are refused with 550. With USER and
PASSWORD, AUTH is required (over plain text: this is a test on loopback).
Prints "ready" once it accepts connections; runs until stdin closes.
"""

import json
import os
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PORT = int(sys.argv[1])
OUT = sys.argv[2]
USER = sys.argv[3] if len(sys.argv) > 4 else ""
PASSWORD = sys.argv[4] if len(sys.argv) > 4 else ""


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@rejected.example"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s" % (time.time_ns(), uuid.uuid4().hex)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
        }
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(meta, f)
        temp = os.path.join(OUT, "." + name + ".tmp")
        with open(temp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(temp, os.path.join(OUT, name + ".eml"))
        return "250 2.0.0 accepted"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd answers 535 itself (True would leave it silent).
    return AuthResult(success=ok, handled=False)


options = {}
if USER:
    options = dict(
        authenticator=authenticate, auth_required=True, auth_require_tls=False
    )
controller = Controller(Sink(), hostname="127.0.0.1", port=PORT, **options)
controller.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
