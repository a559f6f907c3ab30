"""Real servers for notify's channel tests, each run as its own OS process on 127.0.0.1 and an
ephemeral port (printed as the first line of stdout):

``python -m tests.notify.receivers smtp MAILDIR CERT KEY USER PASSWORD``
    an SMTP server (aiosmtpd) that requires STARTTLS and AUTH, storing mail in MAILDIR;
``python -m tests.notify.receivers http LOGFILE SECRETS_JSON``
    an HTTP receiver for robot webhooks (``/robot/<name>``, secret per robot) and the SMS
    gateway (``/sms``): it verifies the timestamped HMAC-SHA256 signatures, answers 401 on a
    bad one, and appends each verified request to LOGFILE as a JSON line (with the rest of
    its query, such as a robot's ``access_token``). ``/robot/reject-*``
    answers 400 (a permanent failure); ``/robot/flaky-*`` answers 503 twice, then 200.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from services.notify.domain import body_signature, robot_sign, signature_fresh


def smtp_main(maildir: str, cert: str, key: str, user: str, password: str) -> None:
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(
                Mailbox(maildir),
                tls_context=context,
                require_starttls=True,
                auth_required=True,
                authenticator=authenticator,
                hostname="127.0.0.1",
            ),
            "127.0.0.1",
            0,
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


def http_main(logfile: str, secrets_json: str) -> None:
    secrets = json.loads(secrets_json)
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            name = url.path.rsplit("/", 1)[-1]
            secret = secrets.get("sms" if url.path == "/sms" else name)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                timestamp = int(self.headers["x-linli-timestamp"])
            except (KeyError, ValueError):
                return self._answer(401, {"errcode": 401, "errmsg": "no timestamp"})
            valid = (
                secret is not None
                and query.get("sign") == robot_sign(secret, timestamp)
                and query.get("timestamp") == str(timestamp)
                and self.headers.get("x-linli-signature") == body_signature(secret, timestamp, body)
                and signature_fresh(timestamp, datetime.now(UTC))
            )
            if not valid:
                return self._answer(401, {"errcode": 310000, "errmsg": "sign not match"})
            if name.startswith("reject-"):
                return self._answer(400, {"errcode": 400, "errmsg": "rejected"})
            delivery = self.headers.get("x-linli-delivery", "")
            with lock:
                attempts[delivery] += 1
                if name.startswith("flaky-") and attempts[delivery] <= 2:
                    return self._answer(503, {"errcode": 503, "errmsg": "busy"})
                time.sleep(float(secrets.get("_delay_s", 0)))
                with open(logfile, "a", encoding="utf-8") as log:
                    record = {
                        "path": url.path,
                        "delivery": delivery,
                        "body": json.loads(body),
                        # the URL's own query (a robot's access token), the signature aside
                        "query": {k: v for k, v in query.items() if k not in ("sign", "timestamp")},
                    }
                    log.write(json.dumps(record, ensure_ascii=False) + "\n")
            return self._answer(200, {"errcode": 0, "errmsg": "ok"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


# --- for the tests ------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "smtp.crt", folder / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def receiver(*args: str):
    """Start a receiver process; yield (port, process); stop it (our own pid) at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.notify.receivers", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"receiver {args[0]} did not start")
        yield int(line), process
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def smtp_server(folder: Path, user: str = "linli", password: str = "pw-123"):
    """The SMTP receiver (STARTTLS with a fresh self-signed certificate, AUTH as ``user``)
    storing mail under ``folder/mail``; yields (port, maildir, certificate)."""
    cert, key = self_signed(folder)
    maildir = folder / "mail"
    with receiver("smtp", str(maildir), str(cert), str(key), user, password) as (port, _):
        yield port, maildir, cert


@contextmanager
def hook_server(folder: Path, secrets: dict[str, str]):
    """The robot webhook and SMS gateway receiver, one secret per robot (``sms``: the
    gateway's), logging to ``folder/hooks.jsonl``; yields (port, log file)."""
    log = folder / "hooks.jsonl"
    with receiver("http", str(log), json.dumps(secrets)) as (port, _):
        yield port, log


# the fixtures of a test module that runs notify against these receivers; the module names
# them (``smtp, hooks = receivers.smtp, receivers.hooks``) and holds its robots' ``SECRETS``


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    """The SMTP receiver for the module: (port, maildir, certificate)."""
    with smtp_server(tmp_path_factory.mktemp("smtp")) as found:
        yield found


@pytest.fixture(scope="module")
def hooks(tmp_path_factory, request):
    """The robot and SMS receiver for the module, with its ``SECRETS``: (port, log file)."""
    with hook_server(tmp_path_factory.mktemp("hooks"), request.module.SECRETS) as found:
        yield found


def read_log(logfile: Path) -> list[dict]:
    if not logfile.exists():
        return []
    return [json.loads(line) for line in logfile.read_text(encoding="utf-8").splitlines()]


if __name__ == "__main__":
    if sys.argv[1] == "smtp":
        smtp_main(*sys.argv[2:7])
    else:
        http_main(*sys.argv[2:4])
