"""Email alerts against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from error_tracker import alerts
from error_tracker.alerts import Alert, build_message, transport_for
from error_tracker.config import from_env
from shared.app import runtime
from shared.config import ConfigError
from tests.conftest import AUTH, tracker_config
from tests.helpers import free_port, wait_until

RECIPIENTS = "a@x.io,b@x.io"
LOGGER = "monlight.error_tracker.alerts"


def py_traceback(line: int, extra_frames: int = 0) -> str:
    frames = "".join(
        f'  File "lib/step{i}.py", line {i + 1}, in step{i}\n    step{i + 1}()\n'
        for i in range(extra_frames)
    )
    return (
        "Traceback (most recent call last):\n"
        f"{frames}"
        f'  File "app/views.py", line {line}, in checkout_{line}\n'
        "    total = price / qty\n"
        "ZeroDivisionError: division by zero\n"
    )


def report(line: int = 10, **over: Any) -> dict[str, Any]:
    body = {
        "project": "shop",
        "exception_type": "ZeroDivisionError",
        "message": "division by zero",
        "traceback": py_traceback(line),
    }
    body.update(over)
    return body


# --- a real SMTP server ------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    msg: EmailMessage
    peer: Any
    tls: bool
    authenticated: bool

    @property
    def body(self) -> str:
        part = self.msg.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")  # CRLF on the wire


@dataclass
class Mailbox:
    """aiosmtpd handler that keeps every message and which connection brought it."""

    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                msg,  # type: ignore[arg-type]
                session.peer,
                # Covers both STARTTLS and TLS from the first byte.
                server.transport.get_extra_info("ssl_object") is not None,
                bool(session.authenticated),
            )
        )
        return "250 Message accepted"

    @property
    def connections(self) -> int:
        return len({m.peer for m in self.messages})

    def wait_for(self, n: int, timeout: float = 15.0) -> list[Received]:
        wait_until(lambda: len(self.messages) >= n, timeout, what=f"{n} message(s)")
        return self.messages


StartServer = Callable[..., tuple[Mailbox, int]]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """Start aiosmtpd servers on free loopback ports; all stop after the test."""
    controllers: list[Controller] = []

    def start(mailbox: Mailbox | None = None, **kwargs: Any) -> tuple[Mailbox, int]:
        box = mailbox or Mailbox()
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start
    for controller in controllers:
        controller.stop()


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A private CA and a server certificate for 127.0.0.1, as a small company might run."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = tmp_path_factory.mktemp("certs")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Monlight test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = Certs(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out


def login_required(user: str, password: str):
    """An aiosmtpd authenticator accepting exactly one account."""

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd itself answers 535 on a failure.
        return AuthResult(success=ok, handled=False)

    return authenticator


class SilentServer:
    """Accepts TCP connections and never answers: a hung SMTP server."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.accepted:
            conn.close()
        self._sock.close()


@contextmanager
def tracker(tmp_path: Path, port: int, **env: str) -> Iterator[TestClient]:
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "ALERT_EMAILS": RECIPIENTS, **env}
    with TestClient(TRACKER.app(tracker_config(tmp_path, **env)), headers=AUTH) as client:
        yield client


def alerter_of(client: TestClient) -> alerts.Alerter:
    return runtime(client.app).context.alerter


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def warning_with(caplog: pytest.LogCaptureFixture, *parts: str) -> logging.LogRecord:
    """Wait for the alerter's warning line holding every part; it must be one plain line."""
    found: list[logging.LogRecord] = []

    def seen() -> bool:
        found[:] = [r for r in warnings_from(caplog) if all(p in r.getMessage() for p in parts)]
        return bool(found)

    wait_until(seen, 15, what=f"warning with {parts}")
    record = found[0]
    assert "\n" not in record.getMessage() and record.exc_info is None
    return record


# --- pure parts --------------------------------------------------------------


def test_port_465_means_implicit_tls_unless_overridden() -> None:
    assert transport_for(465) == "implicit"
    assert transport_for(587) == "opportunistic"
    assert transport_for(25) == "opportunistic"
    assert transport_for(2525, "implicit") == "implicit"
    assert transport_for(465, "starttls") == "starttls"
    assert transport_for(25, "starttls") == "starttls"


def test_smtp_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    base = {"API_KEY": "k", "DATABASE_PATH": str(tmp_path / "e.db")}
    assert from_env(base).smtp_tls == "auto"
    assert from_env({**base, "SMTP_TLS": "IMPLICIT"}).smtp_tls == "implicit"
    with pytest.raises(ConfigError, match="SMTP_TLS"):
        from_env({**base, "SMTP_TLS": "ssl"})
    with pytest.raises(ConfigError, match="SMTP_CA_FILE.*cannot load CA bundle"):
        from_env({**base, "SMTP_CA_FILE": str(tmp_path / "missing.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="SMTP_CA_FILE"):
        from_env({**base, "SMTP_CA_FILE": str(garbage)})
    with pytest.raises(ConfigError, match="SMTP_TIMEOUT"):
        from_env({**base, "SMTP_TIMEOUT": "0"})


def test_message_shows_the_first_traceback_lines_and_an_absolute_link() -> None:
    tb = "\n".join(f"line {i}" for i in range(1, 31))
    long_message = "x" * 300 + "\nsecond line"
    alert = Alert(7, "shop", "ValueError", long_message, tb)
    msg = build_message(
        alert,
        sender="Monlight <errors@acme.io>",
        recipients=("a@x.io",),
        base_url="https://errors.acme.io/",
    )
    subject = msg["Subject"]
    assert subject.startswith("[Monlight] New error in shop: ValueError: xxx")
    assert subject.endswith("…") and len(subject) < 200 and "second line" not in subject
    body = msg.get_content()
    assert "line 20\n" in body and "line 21" not in body and "[… 10 more lines]" in body
    assert "Details: https://errors.acme.io/errors/7" in body
    assert "second line" in body
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@acme.io>")


# --- delivery through the API ------------------------------------------------


def test_one_alert_per_new_error_and_per_regression_never_for_repeats(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    box, port = smtp_server()
    with tracker(
        tmp_path, port, BASE_URL="https://errors.acme.io", SMTP_FROM="Monlight <alerts@acme.io>"
    ) as client:
        first = client.post("/api/errors", json=report(line=10, message="division by zero\nat 3"))
        assert first.status_code == 201
        error_id = first.json()["id"]
        assert client.post("/api/errors", json=report(line=10)).json()["status"] == "incremented"
        assert client.post(f"/api/errors/{error_id}/resolve").status_code == 200
        assert client.post("/api/errors", json=report(line=10)).json()["status"] == "reopened"
        for _ in range(3):  # repeats of the regression: no more mail
            assert client.post("/api/errors", json=report(line=10))
        second = client.post("/api/errors", json=report(line=99, project="billing"))
        assert second.status_code == 201
        # The sender keeps order, so once the second new error's mail is in, any mail for
        # the repeats would be in too.
        box.wait_for(3)
        wait_until(lambda: alerter_of(client).sent == 3, 5, what="sender counted 3")
    assert len(box.messages) == 3
    mail, regression, other = box.messages
    assert mail.rcpt_tos == ["a@x.io", "b@x.io"]
    assert mail.mail_from == "alerts@acme.io"
    assert mail.msg["To"] == "a@x.io, b@x.io"
    assert mail.msg["Subject"] == (
        "[Monlight] New error in shop: ZeroDivisionError: division by zero"
    )
    assert f"Details: https://errors.acme.io/errors/{error_id}" in mail.body
    assert 'File "app/views.py", line 10, in checkout_10' in mail.body
    assert "division by zero\nat 3" in mail.body
    assert regression.msg["Subject"] == (
        "[Monlight] Regression in shop: ZeroDivisionError: division by zero"
    )
    assert "resolved earlier came back" in regression.body
    assert f"/errors/{error_id}" in regression.body
    assert other.msg["Subject"].startswith("[Monlight] New error in billing:")
    assert f"/errors/{second.json()['id']}" in other.body


def test_html_and_newlines_in_a_report_cannot_forge_headers(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    box, port = smtp_server()
    evil = "<b>bad</b> <script>x()</script>\r\nBcc: thief@evil.io\r\nX-Injected: 1\n\nbody?"
    with tracker(tmp_path, port) as client:
        created = client.post(
            "/api/errors",
            json=report(
                project="shop\nBcc: thief@evil.io", exception_type="E\r\nX-Evil: 1", message=evil
            ),
        )
        assert created.status_code == 201
        (mail,) = box.wait_for(1)
    assert mail.rcpt_tos == ["a@x.io", "b@x.io"]
    for name in ("Bcc", "X-Injected", "X-Evil"):
        assert mail.msg[name] is None
    subject = mail.msg["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject == (
        "[Monlight] New error in shop Bcc: thief@evil.io: E X-Evil: 1: "
        "<b>bad</b> <script>x()</script>"
    )
    assert "<script>x()</script>\nBcc: thief@evil.io\nX-Injected: 1\n\nbody?" in mail.body


def test_a_refused_recipient_does_not_stop_the_others(
    tmp_path: Path, smtp_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    box, port = smtp_server(Mailbox(refuse={"gone@x.io"}))
    with tracker(tmp_path, port, ALERT_EMAILS="gone@x.io, a@x.io") as client:
        client.post("/api/errors", json=report())
        (mail,) = box.wait_for(1)
        assert mail.rcpt_tos == ["a@x.io"]
        warning_with(caplog, f"127.0.0.1:{port}", "refused", "gone@x.io")


def test_starttls_and_login(tmp_path: Path, smtp_server: StartServer, certs: Certs) -> None:
    box, port = smtp_server(
        tls_context=certs.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=login_required("alerts", "s3cret"),
    )
    with tracker(
        tmp_path, port, SMTP_USERNAME="alerts", SMTP_PASSWORD="s3cret", SMTP_CA_FILE=str(certs.ca)
    ) as client:
        assert client.post("/api/errors", json=report()).status_code == 201
        (mail,) = box.wait_for(1)
    assert mail.tls and mail.authenticated
    assert mail.msg["Subject"].startswith("[Monlight] New error in shop")


def test_untrusted_certificate_and_bad_password_are_one_warning_each(
    tmp_path: Path, smtp_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    server = {
        "tls_context": certs.server_context(),
        "require_starttls": True,
        "auth_required": True,
        "authenticator": login_required("alerts", "s3cret"),
    }
    box, port = smtp_server(**server)
    with tracker(tmp_path / "a", port, SMTP_USERNAME="alerts", SMTP_PASSWORD="s3cret") as c:
        c.post("/api/errors", json=report())
        warning_with(caplog, f"127.0.0.1:{port}", "STARTTLS", "certificate")
    with tracker(
        tmp_path / "b",
        port,
        SMTP_USERNAME="alerts",
        SMTP_PASSWORD="wrong",
        SMTP_CA_FILE=str(certs.ca),
    ) as c:
        c.post("/api/errors", json=report())
        warning_with(caplog, f"127.0.0.1:{port}", "login", "535")
    assert box.messages == []


def test_required_starttls_is_never_skipped(
    tmp_path: Path, smtp_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With SMTP_TLS=starttls a server without STARTTLS never sees the password."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    box, port = smtp_server()
    with tracker(
        tmp_path, port, SMTP_TLS="starttls", SMTP_USERNAME="u", SMTP_PASSWORD="p"
    ) as client:
        client.post("/api/errors", json=report())
        warning_with(caplog, f"127.0.0.1:{port}", "does not offer STARTTLS")
    assert box.messages == []


# aiosmtpd only counts STARTTLS as TLS for AUTH; this server is TLS from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(tmp_path: Path, smtp_server: StartServer, certs: Certs) -> None:
    box, port = smtp_server(
        ssl_context=certs.server_context(),
        auth_required=True,
        auth_require_tls=False,
        authenticator=login_required("alerts", "s3cret"),
    )
    with tracker(
        tmp_path,
        port,
        SMTP_TLS="implicit",
        SMTP_USERNAME="alerts",
        SMTP_PASSWORD="s3cret",
        SMTP_CA_FILE=str(certs.ca),
    ) as client:
        assert client.post("/api/errors", json=report()).status_code == 201
        (mail,) = box.wait_for(1)
    assert mail.tls and mail.authenticated
    assert "ZeroDivisionError" in mail.msg["Subject"]


# --- a dead or hung server never slows ingestion ------------------------------


def post_new_errors(client: TestClient, n: int, start: int = 1000) -> list[float]:
    """Post n distinct new errors; return each request's latency."""
    latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        response = client.post("/api/errors", json=report(line=start + i))
        latencies.append(time.perf_counter() - t0)
        assert response.status_code == 201, response.text
    return latencies


def test_nothing_listening_costs_ingestion_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    port = free_port()
    with tracker(tmp_path, port) as client:
        latencies = post_new_errors(client, 200)
        assert max(latencies) < 1.0
        warning_with(caplog, f"127.0.0.1:{port}", "connect", "refused")
        # Batches and back-off: a handful of attempts for 200 alerts, not one per error.
        assert 1 <= alerter_of(client).connections <= 5
        assert len(warnings_from(caplog)) <= 5


def test_hung_server_bounds_the_queue_and_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    monkeypatch.setattr(alerts, "QUEUE_SIZE", 50)
    monkeypatch.setattr(alerts, "STOP_GRACE", 1.0)  # the bound under test, kept short
    silent = SilentServer()
    try:
        with tracker(tmp_path, silent.port, SMTP_TIMEOUT="60") as client:
            alerter = alerter_of(client)
            client.post("/api/errors", json=report(line=1))
            wait_until(lambda: silent.accepted, 10, what="the sender to connect")
            # The sender now waits (up to 60 s) for a greeting that never comes.
            latencies = post_new_errors(client, 200)
            assert max(latencies) < 1.0
            assert alerter.pending() == 50 and alerter.dropped == 150
            full = [r for r in warnings_from(caplog) if "queue full" in r.getMessage()]
            assert len(full) == 1
            t0 = time.monotonic()
        shutdown = time.monotonic() - t0
        assert shutdown < alerts.STOP_GRACE + 2.0
        warning_with(caplog, f"127.0.0.1:{silent.port}", "not sent before shutdown")
    finally:
        silent.close()


def test_queued_alerts_hold_only_what_the_email_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMTP down and errors of ~230 KB each: the queue holds each alert's email
    (message and traceback excerpts, ~14 KB), bounded in bytes, not whole reports."""
    monkeypatch.setattr(alerts, "QUEUE_BYTES", 1024 * 1024)
    monkeypatch.setattr(alerts, "STOP_GRACE", 0.5)  # the server never answers
    silent = SilentServer()
    try:
        with tracker(tmp_path, silent.port, SMTP_TIMEOUT="60") as client:
            alerter = alerter_of(client)
            client.post("/api/errors", json=report(line=1))
            wait_until(lambda: silent.accepted, 10, what="the sender to hang on the server")
            frame = '  File "app.py", line {}, in f\n    ' + "x" * 480 + "\n"
            huge_tb = "".join(frame.format(i) for i in range(380))
            for i in range(150):
                last = f'  File "app.py", line {90_000 + i}, in g{i}\nE: x\n'  # a new group each
                body = report(message="m" * 30_000, traceback=huge_tb + last)
                assert client.post("/api/errors", json=body).status_code == 201
            queued = alerter._worker.queued_bytes
            assert 0 < queued <= alerts.QUEUE_BYTES
            assert queued <= alerter.pending() * 16_000  # ~14 KB an alert, not 230 KB
            assert alerter.dropped > 0  # past the byte bound: dropped and counted
    finally:
        silent.close()


# --- test alert, burst, shutdown ---------------------------------------------


def test_test_alert_endpoint(tmp_path: Path, smtp_server: StartServer) -> None:
    box, port = smtp_server()
    with tracker(tmp_path, port, BASE_URL="https://errors.acme.io") as client:
        response = client.post("/api/test-alert")
        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "test alert dispatched"
        assert "a@x.io" in body["detail"] and f"127.0.0.1:{port}" in body["detail"]
        (mail,) = box.wait_for(1)
    assert mail.rcpt_tos == ["a@x.io", "b@x.io"]
    assert mail.msg["Subject"] == "[Monlight] Test alert from the Error Tracker"
    assert "https://errors.acme.io/" in mail.body


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SMTP_HOST": "", "ALERT_EMAILS": RECIPIENTS}, "SMTP_HOST"),
        ({"SMTP_HOST": "127.0.0.1", "ALERT_EMAILS": ""}, "ALERT_EMAILS"),
        ({}, "SMTP_HOST, ALERT_EMAILS"),
    ],
)
def test_test_alert_without_smtp_is_503(tmp_path: Path, env: dict[str, str], missing: str) -> None:
    with TestClient(TRACKER.app(tracker_config(tmp_path, **env)), headers=AUTH) as client:
        response = client.post("/api/test-alert")
        assert response.status_code == 503
        assert response.json() == {"detail": f"SMTP not configured: set {missing}"}
        # Ingestion does not care that alerts are off.
        assert client.post("/api/errors", json=report()).status_code == 201


def test_burst_shares_connections(tmp_path: Path, smtp_server: StartServer) -> None:
    box, port = smtp_server()
    with tracker(tmp_path, port) as client:
        ids = {
            client.post("/api/errors", json=report(line=2000 + i)).json()["id"] for i in range(50)
        }
        messages = box.wait_for(50)
    assert len(messages) == 50
    assert {int(m.msg["X-Monlight-Error-Id"]) for m in messages} == ids
    assert all(f"/errors/{m.msg['X-Monlight-Error-Id']}" in m.body for m in messages)
    assert box.connections <= 5


def test_shutdown_sends_what_is_queued(tmp_path: Path, smtp_server: StartServer) -> None:
    box, port = smtp_server()
    with tracker(tmp_path, port) as client:
        for i in range(3):
            assert client.post("/api/errors", json=report(line=3000 + i)).status_code == 201
    # No waiting: stop() itself made the last attempt.
    assert len(box.messages) == 3
