"""Handing messages over: to an SMTP server, or (the embedded default) to a Maildir in $CYCLE_HOME/mail.

SMTP settings come from the environment, else from [smtp] in $CYCLE_HOME/reminders.toml:

    CYCLE_SMTP_HOST, CYCLE_SMTP_PORT, CYCLE_SMTP_SECURITY (starttls | ssl | none), CYCLE_SMTP_USER,
    CYCLE_SMTP_PASSWORD or CYCLE_SMTP_PASSWORD_FILE, CYCLE_MAIL_FROM, CYCLE_SMTP_HELO,
    CYCLE_SMTP_CAFILE (a CA bundle to trust, e.g. the council's own CA; default: the system's)

The password is read only from the environment or from a file of its own, never from a command-line
option (where other users of the machine could see it) nor from reminders.toml itself.

An internationalised address (zoë@council.gov.uk) goes only to a server that offers SMTPUTF8 (RFC 6531); an
address whose domain alone is internationalised goes in its ASCII form (xn--...), which any server takes.

`smtplib` reports a partly refused message by returning the refused recipients rather than raising,
so every outcome is read per recipient: accepted, temporary (4xx, or no server to talk to) or
permanent (5xx).
"""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from cycle import config, files
from cycle.errors import BadInput
from cycle.reminders.settings import SMTP_SECURITY, config_path, read_config

SECURITY = SMTP_SECURITY
DEFAULT_FROM = "cycle@localhost"


@dataclass
class SmtpSettings:
    host: str
    port: int
    security: str
    user: str | None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_FROM
    helo: str | None = None
    timeout: float = 30.0
    cafile: str | None = None

    def tls(self) -> ssl.SSLContext:
        """Certificates are always verified; a private CA is trusted by naming it, never by turning checks off."""
        return ssl.create_default_context(cafile=self.cafile)

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port} ({self.security})"


def _env_or(raw: dict[str, object], env: str, key: str) -> object | None:
    value = os.environ.get(env)
    return value if value not in (None, "") else raw.get(key)


def sender() -> str:
    """The From address: CYCLE_MAIL_FROM, else [smtp] from, else (only for the Maildir: sending by SMTP
    refuses to go without one) cycle@localhost."""
    value = str(_env_or(read_config("smtp"), "CYCLE_MAIL_FROM", "from") or DEFAULT_FROM)
    if not _one_sendable_address(value):
        raise BadInput(f"the From address {value!r} is not an address cycle can send from: one address, in plain "
                       f"ASCII (a domain in its xn-- form), with a name before it in <...> if you like; nothing was "
                       f"queued or sent. Set CYCLE_MAIL_FROM or [smtp] from, e.g. "
                       f"'Commissioning reminders <cycle@council.gov.uk>'")
    return value


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")


def _one_sendable_address(value: str) -> bool:
    """`value` is one address (bare, or 'Name <address>') that every server takes in MAIL FROM and every client
    reads in From: ASCII, a local part and a domain (an internationalised one goes in its xn-- form)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return False
    address = parseaddr(value)[1]
    text = value.strip()
    if text != address and not (text.endswith(f"<{address}>") and "<" not in text[:-len(address) - 2]):
        return False  # two addresses, a stray bracket: the header would not say what parseaddr read
    local, at, domain = address.rpartition("@")
    return bool(at) and bool(_LOCAL.match(local)) and bool(_DOMAIN.match(domain)) and len(address) <= 254


def smtp_settings() -> SmtpSettings | None:
    """The SMTP server to use, or None when none is configured (then mail goes to the Maildir)."""
    raw = read_config("smtp")
    host = _env_or(raw, "CYCLE_SMTP_HOST", "host")
    if not host:
        return None
    security = str(_env_or(raw, "CYCLE_SMTP_SECURITY", "security") or "starttls").lower()
    if security not in SECURITY:
        raise BadInput(f"SMTP security {security!r} is not one of: {', '.join(SECURITY)} "
                       f"(CYCLE_SMTP_SECURITY or [smtp] security in {config_path()})")
    port_value = _env_or(raw, "CYCLE_SMTP_PORT", "port") or (465 if security == "ssl" else 587)
    try:
        port = int(str(port_value).strip())
    except ValueError:
        raise BadInput(f"SMTP port {port_value!r} is not a number (CYCLE_SMTP_PORT)") from None
    if not 1 <= port <= 65535:
        raise BadInput(f"SMTP port {port_value!r} is out of range; give a port number from 1 to 65535, e.g. 587 "
                       f"(CYCLE_SMTP_PORT or [smtp] port in {config_path()})")
    password = os.environ.get("CYCLE_SMTP_PASSWORD") or None
    password_file = _env_or(raw, "CYCLE_SMTP_PASSWORD_FILE", "password_file")
    if password is None and password_file:
        path = Path(str(password_file)).expanduser()
        try:
            password = files.read_text(path, "a password file", 4096).strip()
        except files.Unreadable as exc:
            raise BadInput(f"cannot read the SMTP password file {path}: {exc.problem}") from None
    user = _env_or(raw, "CYCLE_SMTP_USER", "user")
    helo = _env_or(raw, "CYCLE_SMTP_HELO", "helo")
    timeout = raw.get("timeout", 30)  # read_config checked it: a number of seconds, more than 0
    cafile = _env_or(raw, "CYCLE_SMTP_CAFILE", "cafile")
    if cafile and not Path(str(cafile)).expanduser().is_file():
        raise BadInput(f"the SMTP CA file {cafile} does not exist (CYCLE_SMTP_CAFILE or [smtp] cafile)")
    if not _env_or(raw, "CYCLE_MAIL_FROM", "from"):
        raise BadInput(f"sending by SMTP needs a From address on the council's domain, and none is set; nothing was "
                       f"queued or sent. Set CYCLE_MAIL_FROM or [smtp] from in {config_path()}, e.g. "
                       f"'Commissioning reminders <reminders@council.gov.uk>'")
    return SmtpSettings(str(host), port, security, str(user) if user else None, password, sender(),
                        str(helo) if helo else None, float(timeout),
                        str(Path(str(cafile)).expanduser()) if cafile else None)


@dataclass
class Delivery:
    """What the server said about each envelope recipient."""

    accepted: list[str] = field(default_factory=list)
    temporary: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    permanent: dict[str, tuple[int | None, str]] = field(default_factory=dict)

    def refuse(self, address: str, code: int | None, detail: str) -> None:
        if code is not None and 500 <= code < 600:
            self.permanent[address] = (code, detail)
        else:
            self.temporary[address] = (code, detail)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def sendable(address: str) -> tuple[str, str | None]:
    """(the address to send to, why it cannot be sent at all): its ASCII form where it has one, else as stored
    (internationalised: it needs SMTPUTF8). One stored before addresses were validated may not be an address."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return address, f"{address!r} is not an email address ({exc})"
    return str(checked.ascii_email or checked.normalized), None


class SmtpTransport:
    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtputf8: bool | None = None

    def describe(self) -> str:
        return self.settings.describe()

    def smtputf8(self) -> bool | None:
        """Whether the server offers SMTPUTF8 (asked once, after STARTTLS where used); None: it could not be asked."""
        if self._smtputf8 is None:
            st = self.settings
            try:
                conn = _connect(st)
            except (OSError, smtplib.SMTPException):
                return None
            try:
                if st.security == "starttls":
                    conn.starttls(context=st.tls())
                conn.ehlo_or_helo_if_needed()
                self._smtputf8 = bool(conn.has_extn("smtputf8"))
            except (OSError, smtplib.SMTPException):
                return None
            finally:
                _close(conn, Delivery())
        return self._smtputf8

    def deliver(self, msg: EmailMessage, recipients: list[str]) -> Delivery:
        st = self.settings
        result = Delivery()
        envelope_from = parseaddr(st.sender)[1]
        try:
            conn = _connect(st)
        except (OSError, smtplib.SMTPException) as exc:
            for address in recipients:
                result.refuse(address, getattr(exc, "smtp_code", None),
                              f"cannot reach {st.host}:{st.port}: {_error(exc)}")
            return result
        try:
            if st.security == "starttls":
                conn.starttls(context=st.tls())
            if st.user:
                conn.login(st.user, st.password or "")
            refused = conn.send_message(msg, from_addr=envelope_from, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            for address, (code, reply) in exc.recipients.items():
                result.refuse(address, code, f"{code} {_text(reply)}")
            return _close(conn, result)
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password is ours to fix, not the reminder's: keep it waiting rather than failing it.
            for address in recipients:
                result.temporary[address] = (exc.smtp_code, f"login refused: {exc.smtp_code} {_text(exc.smtp_error)}")
            return _close(conn, result)
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, ...
            for address in recipients:
                result.refuse(address, exc.smtp_code, f"{exc.smtp_code} {_text(exc.smtp_error)}")
            return _close(conn, result)
        except (OSError, smtplib.SMTPException) as exc:  # dropped connection, timeout
            for address in recipients:
                result.temporary[address] = (None, f"connection to {st.host}:{st.port} failed: {_error(exc)}")
            return _close(conn, result)
        # send_message returns the refused recipients instead of raising when only some were refused.
        for address in recipients:
            if address in refused:
                code, reply = refused[address]
                result.refuse(address, code, f"{code} {_text(reply)}")
            else:
                result.accepted.append(address)
        return _close(conn, result)


def _connect(st: SmtpSettings) -> smtplib.SMTP:
    """A connection to the server, in TLS from the start for `ssl` (STARTTLS, where used, is the caller's)."""
    if st.security == "ssl":
        return smtplib.SMTP_SSL(st.host, st.port, local_hostname=st.helo, timeout=st.timeout, context=st.tls())
    return smtplib.SMTP(st.host, st.port, local_hostname=st.helo, timeout=st.timeout)


def _error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return _text(str(exc)) or type(exc).__name__


def _close(conn: smtplib.SMTP, result: Delivery) -> Delivery:
    # The server has already answered for the message; a failing QUIT must not make it look unsent.
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()
    return result


class MaildirTransport:
    """The embedded default: every message lands in one Maildir, readable by any mail client."""

    def __init__(self, path: Path):
        self.path = path

    def describe(self) -> str:
        return f"Maildir {self.path}"

    def smtputf8(self) -> bool:
        return True  # a file: the message is written as UTF-8 where an address needs it (render.message)

    def deliver(self, msg: EmailMessage, recipients: list[str]) -> Delivery:
        box = mailbox.Maildir(str(self.path), create=True)
        # As bytes through the message's own policy: mailbox.add(msg) would write the headers unfolded (a long
        # Subject on one line past 78 characters); plain newlines, as a local mail file has.
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\n"))
        try:
            box.add(data)
        except OSError as exc:
            return Delivery(temporary={a: (None, f"cannot write to {self.path}: {exc.strerror}") for a in recipients})
        finally:
            box.close()
        return Delivery(accepted=list(recipients))


def maildir_path() -> Path:
    return config.home() / "mail"


def transport() -> SmtpTransport | MaildirTransport:
    settings = smtp_settings()  # checks the From address
    if settings is None:
        sender()  # the Maildir's too: refused before anything is queued, as for SMTP
    return SmtpTransport(settings) if settings else MaildirTransport(maildir_path())
