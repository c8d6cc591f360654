"""A real SMTP server (aiosmtpd) on 127.0.0.1 whose answers a test can script, stop and start again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class Handler:
    """Accepts everything unless told otherwise: `data_replies` are used up one per DATA, `refuse` per RCPT."""

    def __init__(self) -> None:
        self.data_replies: list[str] = []
        self.refuse: dict[str, str] = {}
        self.received: list[Received] = []
        self.data_commands = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        self.data_commands += 1
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(self, **options: Any) -> None:
        """`options` go to aiosmtpd's Controller: tls_context, require_starttls, ssl_context, authenticator ..."""
        self.port = free_port()
        self.handler = Handler()
        self.options = options
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        """The server goes away: connections are refused until start() (same port, same handler)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@pytest.fixture(name="smtp")
def smtp_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A running server, and cycle configured (through the environment) to send to it."""
    server = SmtpServer()
    server.start()
    monkeypatch.setenv("CYCLE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CYCLE_SMTP_PORT", str(server.port))
    monkeypatch.setenv("CYCLE_SMTP_SECURITY", "none")
    monkeypatch.setenv("CYCLE_SMTP_HELO", "localhost")
    monkeypatch.setenv("CYCLE_MAIL_FROM", "Commissioning reminders <reminders@council.example>")
    try:
        yield server
    finally:
        server.stop()
