"""Email alerts on new errors, sent off the request path.

Why it is shaped this way:

- `notify()` runs on the event loop right after the new error's write
  committed, so it only appends to a bounded in-memory queue (QUEUE_SIZE)
  and returns; it never blocks on the network and never raises. When the
  queue is full the alert is dropped and counted, with one warning per
  overflow episode (not one per drop).
- One daemon thread sends. It waits BATCH_WINDOW after the first alert of a
  batch so a burst coalesces, then sends up to BATCH_MAX queued alerts over
  ONE SMTP connection: one message per new error, addressed to every
  recipient in ALERT_EMAILS. No digest: each error keeps its own subject and
  link; a burst costs ceil(n / BATCH_MAX) connections, one at a time, and the
  queue bound caps the total.
- Every socket operation has SMTP_TIMEOUT. A failed connection logs ONE
  warning line (host:port, stage, reason; no traceback), keeps the unsent
  alerts for a retry (MAX_ATTEMPTS in all) and backs off (1 s doubling to
  60 s) before the next batch, so a dead server is not hammered.
- A message the server refuses outright (bad recipient, 5xx on DATA) is
  dropped with a warning; the others still go over the same connection.
- Transport: SMTP_TLS=auto (default) means implicit TLS on port 465 and
  STARTTLS when the server offers it on any other port (plain otherwise);
  `starttls` insists on it; `implicit` forces TLS from the first byte on any
  port. Certificates are always verified, against the system CAs plus
  SMTP_CA_FILE. Login happens when SMTP_USERNAME is set.
- `stop()` lets the sender make one last attempt at what is queued, waits at
  most STOP_GRACE seconds, then aborts the open connection so shutdown never
  hangs on a silent server.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Literal

from shared.workers import QueueLimits, QueueWorker

if TYPE_CHECKING:
    from error_tracker.config import TrackerSettings

log = logging.getLogger("monlight.error_tracker.alerts")

#: Alerts waiting for the sender; more are dropped (and counted).
QUEUE_SIZE = 1000
#: Characters of queued mail (subject + body) held at most; each mail is at
#: most ~14 KB (message and traceback excerpts), so this holds ~300 of the largest.
QUEUE_BYTES = 4 * 1024 * 1024
#: Most messages sent over one SMTP connection.
BATCH_MAX = 50
#: How long the sender lets a burst gather before connecting (seconds).
BATCH_WINDOW = 0.2
#: Tries per alert before it is given up.
MAX_ATTEMPTS = 3
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
#: Longest stop() waits for the sender before aborting its connection.
STOP_GRACE = 3.0

SUBJECT_MESSAGE_CHARS = 100
SUBJECT_TYPE_CHARS = 100
BODY_MESSAGE_CHARS = 4000
TRACEBACK_LINES = 20
TRACEBACK_LINE_CHARS = 500

TLS_SETTINGS = ("auto", "starttls", "implicit")
Transport = Literal["implicit", "starttls", "opportunistic"]

# Anything that could end or fold a header line, plus the other C0 controls.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# Controls a plain-text body has no use for (newline and tab stay).
_BODY_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    project: str
    exception_type: str
    message: str
    traceback: str
    #: A synthetic alert from POST /api/test-alert.
    test: bool = False
    #: A resolved error that came back (a regression), not a new one.
    regression: bool = False


# --- configuration helpers (used by error_tracker.config) -------------------


def parse_tls_setting(raw: str) -> str:
    value = raw.strip().lower()
    if value not in TLS_SETTINGS:
        raise ValueError(f"expected one of {', '.join(TLS_SETTINGS)}")
    return value


def parse_ca_file(raw: str) -> str:
    """Fail at start-up, not at the first alert, when the CA bundle is unusable."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=raw)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load CA bundle: {describe(exc)}") from None
    return raw


def transport_for(port: int, setting: str = "auto") -> Transport:
    """How to secure the connection: 465 means implicit TLS unless overridden."""
    if setting == "implicit":
        return "implicit"
    if setting == "starttls":
        return "starttls"
    return "implicit" if port == 465 else "opportunistic"


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """System CAs, plus an extra bundle for a private SMTP server."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


# --- messages ---------------------------------------------------------------


def one_line(text: str, limit: int) -> str:
    """Header-safe: no CR/LF/controls (no header injection), bounded length."""
    flat = " ".join(_HEADER_UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def error_link(error_id: int, base_url: str) -> str:
    path = f"/errors/{error_id}"
    return base_url.rstrip("/") + path if base_url else path


def subject_for(alert: Alert) -> str:
    if alert.test:
        return "[Monlight] Test alert from the Error Tracker"
    what = "Regression" if alert.regression else "New error"
    head = f"[Monlight] {what} in {one_line(alert.project, 100)}: " + one_line(
        alert.exception_type, SUBJECT_TYPE_CHARS
    )
    summary = one_line(first_line(alert.message), SUBJECT_MESSAGE_CHARS)
    return f"{head}: {summary}" if summary else head


def body_for(alert: Alert, base_url: str) -> str:
    if alert.test:
        where = base_url.rstrip("/") + "/" if base_url else "the Error Tracker"
        return (
            "This is a test alert from the Monlight Error Tracker.\n\n"
            "If you can read this, alert emails reach you: a new error will be\n"
            f"mailed like this one, with a link into {where}.\n"
        )
    message = _BODY_UNSAFE.sub("", alert.message)
    if len(message) > BODY_MESSAGE_CHARS:
        message = message[:BODY_MESSAGE_CHARS] + "\n[… message truncated]"
    lines = _BODY_UNSAFE.sub("", alert.traceback).splitlines()
    shown = [
        line if len(line) <= TRACEBACK_LINE_CHARS else line[:TRACEBACK_LINE_CHARS] + "…"
        for line in lines[:TRACEBACK_LINES]
    ]
    parts = [
        f"An error resolved earlier came back in project {alert.project}."
        if alert.regression
        else f"A new error was recorded in project {alert.project}.",
        "",
        f"Project:   {alert.project}",
        f"Exception: {alert.exception_type}",
        "Message:",
        message or "(empty)",
        "",
    ]
    if lines:
        more = len(lines) - len(shown)
        parts.append(
            f"Traceback (first {len(shown)} of {len(lines)} lines):" if more else "Traceback:"
        )
        parts.extend(shown)
        if more:
            parts.append(f"[… {more} more lines]")
        parts.append("")
    parts.append(f"Details: {error_link(alert.id, base_url)}")
    return "\n".join(parts) + "\n"


@dataclass(frozen=True, slots=True)
class Mail:
    """An alert as the email needs it, and no more: this is what waits in the queue
    while SMTP is down (a 255 KB traceback queues as its first lines)."""

    error_id: int
    test: bool
    subject: str
    body: str

    @property
    def size(self) -> int:
        return len(self.subject) + len(self.body)


def prepare(alert: Alert, base_url: str = "") -> Mail:
    return Mail(alert.id, alert.test, subject_for(alert), body_for(alert, base_url))


def message_for(mail: Mail, *, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    # An explicit domain: the default asks DNS for this host's FQDN on every message.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "monlight.invalid"
    msg["Message-ID"] = make_msgid("monlight", domain=domain)
    # RFC 3834: tells vacation responders not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    if not mail.test:
        msg["X-Monlight-Error-Id"] = str(mail.error_id)
    msg.set_content(mail.body)
    return msg


def build_message(
    alert: Alert, *, sender: str, recipients: tuple[str, ...], base_url: str = ""
) -> EmailMessage:
    return message_for(prepare(alert, base_url), sender=sender, recipients=recipients)


def describe(exc: BaseException) -> str:
    """The reason for a failure, in one short line."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        reason = f"{exc.smtp_code} {text}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        reason = "recipients refused: " + ", ".join(
            f"{rcpt} ({code})" for rcpt, (code, _msg) in exc.recipients.items()
        )
    elif isinstance(exc, ssl.SSLCertVerificationError):
        reason = f"TLS certificate not trusted: {exc.verify_message}"
    elif isinstance(exc, TimeoutError):
        reason = "timed out"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = str(exc) or type(exc).__name__
    return " ".join(reason.split())


# --- the sender -------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    mail: Mail
    attempts: int = 0


class _Failed(Exception):
    """A connection-level failure: which stage, and why (already one line)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class Alerter:
    """Queues alerts from the event loop; a QueueWorker thread mails them in batches."""

    def __init__(self, config: TrackerSettings, *, queue_size: int | None = None) -> None:
        self.config = config
        self._active: smtplib.SMTP | None = None
        self._tls: ssl.SSLContext | None = None
        self._worker: QueueWorker[_Pending] = QueueWorker(
            "alert-sender",
            self._attempt,
            noun="alert",
            target=lambda: self.address,
            size=lambda item: item.mail.size,
            limits=QueueLimits(
                max_items=queue_size or QUEUE_SIZE,
                max_bytes=QUEUE_BYTES,
                max_batch=BATCH_MAX,
                window=BATCH_WINDOW,
                backoff_min=BACKOFF_MIN,
                backoff_max=BACKOFF_MAX,
                stop_grace=STOP_GRACE,
            ),
            interrupt=self._abort,
            logger=log,
        )
        #: Counters for operators and tests.
        self.sent = 0
        self.failed = 0  # given up after errors or refused by the server
        self.connections = 0

    @property
    def enabled(self) -> bool:
        return bool(self.config.smtp_host and self.config.alert_emails)

    @property
    def address(self) -> str:
        return f"{self.config.smtp_host}:{self.config.smtp_port}"

    @property
    def dropped(self) -> int:
        """Alerts dropped because the queue was full."""
        return self._worker.dropped

    def missing(self) -> str:
        return ", ".join(
            name
            for name, value in (
                ("SMTP_HOST", self.config.smtp_host),
                ("ALERT_EMAILS", self.config.alert_emails),
            )
            if not value
        )

    def pending(self) -> int:
        return self._worker.pending()

    # -- called on the event loop --

    def notify(self, alert: Alert) -> None:
        """Queue an alert; never blocks, never raises."""
        try:
            if self.enabled:
                self._worker.put(_Pending(prepare(alert, self.config.base_url)))
        except Exception:  # noqa: BLE001 - an alert must never fail ingestion
            log.exception("could not queue alert")

    def send_test(self) -> None:
        """Queue a synthetic alert, sent like any other."""
        self.notify(Alert(0, "monlight", "TestAlert", "Test alert", "", test=True))

    # -- lifecycle (a shared.app Worker) --

    def start(self) -> None:
        if not self.enabled:
            return
        self._tls = tls_context(self.config.smtp_ca_file)
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def _abort(self) -> None:
        """Unblock a sender stuck waiting on a silent server (called from stop)."""
        smtp = self._active
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- the sender thread --

    def _attempt(self, batch: list[_Pending]) -> tuple[list[_Pending], bool]:
        """Send a batch over one connection; return what to retry and whether it went.

        Runs on the QueueWorker's thread, which backs off after a failure."""
        try:
            done, failure = self._send_batch(batch)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug
            done, failure = 0, _Failed("send", describe(exc))
        if failure is None:
            return [], True
        unsent = batch[done:]
        for item in unsent:
            item.attempts += 1
        retry = [item for item in unsent if item.attempts < MAX_ATTEMPTS]
        given_up = len(unsent) - len(retry)
        self.failed += given_up
        outcome = f"{len(retry)} alert(s) kept for a retry"
        if given_up:
            outcome += f", {given_up} given up after {MAX_ATTEMPTS} attempts"
        log.warning(
            "alert email via %s failed at %s: %s (%s)",
            self.address,
            failure.stage,
            failure.reason,
            outcome,
        )
        return retry, False

    def _send_batch(self, batch: list[_Pending]) -> tuple[int, _Failed | None]:
        """Mail each alert over one connection; return how many were handled."""
        try:
            smtp = self._open()
        except _Failed as failure:
            return 0, failure
        recipients = tuple(self.config.alert_emails)
        sender = self.config.smtp_from
        envelope_from = parseaddr(sender)[1] or sender
        done = 0
        try:
            for item in batch:
                msg = message_for(item.mail, sender=sender, recipients=recipients)
                try:
                    refused = smtp.send_message(msg, envelope_from, list(recipients))
                except (
                    smtplib.SMTPRecipientsRefused,
                    smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError,
                ) as exc:
                    # Only this message failed: smtplib sent RSET, the connection goes on.
                    self.failed += 1
                    log.warning(
                        "alert email for error #%d refused by %s: %s",
                        item.mail.error_id,
                        self.address,
                        describe(exc),
                    )
                else:
                    self.sent += 1
                    if refused:
                        log.warning(
                            "alert email for error #%d: %s refused %s",
                            item.mail.error_id,
                            self.address,
                            ", ".join(sorted(refused)),
                        )
                done += 1
        except Exception as exc:  # noqa: BLE001 - reported by _attempt as one line
            self._close(smtp, polite=False)
            return done, _Failed("send", describe(exc))
        self._close(smtp, polite=True)
        return done, None

    def _open(self) -> smtplib.SMTP:
        """Connect, secure and log in, or raise _Failed naming the stage."""
        cfg = self.config
        host, port, timeout = cfg.smtp_host, cfg.smtp_port, cfg.smtp_timeout
        mode = transport_for(port, cfg.smtp_tls)
        smtp: smtplib.SMTP
        if mode == "implicit":
            smtp = smtplib.SMTP_SSL(timeout=timeout, context=self._tls)
        else:
            smtp = smtplib.SMTP(timeout=timeout)
        # smtplib takes the TLS server name from _host, which only __init__ sets; connecting
        # after construction lets stop() reach the socket while waiting for the greeting.
        smtp._host = host  # type: ignore[attr-defined]
        self._active = smtp
        stage = "connect"
        try:
            self.connections += 1
            code, greeting = smtp.connect(host, port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            stage = "EHLO"
            smtp.ehlo()
            if mode != "implicit":
                if smtp.has_extn("starttls"):
                    stage = "STARTTLS"
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                elif mode == "starttls":
                    raise smtplib.SMTPNotSupportedError("server does not offer STARTTLS")
            if cfg.smtp_username:
                stage = "login"
                smtp.login(cfg.smtp_username, cfg.smtp_password)
        except Exception as exc:
            self._close(smtp, polite=False)
            raise _Failed(stage, describe(exc)) from exc
        return smtp

    def _close(self, smtp: smtplib.SMTP, *, polite: bool) -> None:
        """QUIT after a good session; just drop the socket after a failed one."""
        self._active = None
        if polite:
            try:
                smtp.quit()
                return
            except Exception:  # noqa: BLE001 - the messages are already handed over
                pass
        smtp.close()
