"""One logged-in SMTP session that sends many messages: the mail transaction and its per-recipient results.

For each message: MAIL FROM (with ``SMTPUTF8``, ``BODY=8BITMIME`` and ``SIZE`` when needed and
offered), one RCPT TO per recipient (a refusal is recorded for that recipient, the others still get
the message), DATA with our own framing (``_framing``: CRLF everywhere, dots stuffed), then the
final reply. When the server offers PIPELINING (RFC 2920), MAIL, the RCPTs and DATA go out in one
write and their replies are read in order afterwards: two round trips per message instead of
three plus one per recipient; otherwise each command waits for its reply. A refused transaction
is reset with RSET so the session stays usable; a ``421`` or a connection failure ends the session.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mailconduit import MessageError, RecipientResult, SendResult, ServerReplyError, TransportError
from mailconduit_smtp import _envelope, _framing
from mailconduit_smtp._client import SmtpClient
from mailconduit_smtp._errmap import reply_error, reply_text

__all__ = ["QUIT_TIMEOUT", "SmtpSession"]

log = logging.getLogger("mailconduit.smtp")

QUIT_TIMEOUT = 2.0
"""Seconds to wait for the answer to QUIT; the connection is closed either way."""


class SmtpSession:
    """An open, secured and logged-in SMTP connection; reuse it for many messages, then :meth:`close`.

    Made by ``SmtpTransport.open``. Not thread-safe: one session per worker.
    """

    def __init__(self, client: SmtpClient, mechanism: str | None = None) -> None:
        self._client = client
        self.mechanism = mechanism
        self.messages_sent = 0

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<SmtpSession {self._client.where} {state}, {self.messages_sent} sent>"

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """True until the session was closed or its connection failed."""
        return self._client.sock is not None

    @property
    def extensions(self) -> dict[str, str]:
        """The ESMTP extensions of the last EHLO (lower-case keyword -> parameters)."""
        return dict(self._client.esmtp_features)

    def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> SendResult:
        """Send ``data`` from ``envelope_from`` to ``recipients``; return one result per recipient.

        Args:
            envelope_from: the reverse path (``""`` for a bounce).
            recipients: the envelope recipients, at least one.
            data: the message (RFC 5322). Every line ending is sent as CRLF and leading dots are
                stuffed, so the receiver gets ``data`` with normalised line endings.
            mail_options: extra MAIL FROM parameters (``RET=HDRS``, ``ENVID=...``).
            rcpt_options: extra parameters for every RCPT TO (``NOTIFY=FAILURE``).

        Raises:
            HeaderInjectionError: an address or parameter holds CR, LF, NUL, a space or ``<>``.
            MessageError: the message needs SMTPUTF8 or 8BITMIME and the server does not offer it.
            ServerReplyError: MAIL, every RCPT, DATA or the data itself was refused; ``temporary``
                follows the reply code (4xx temporary, 5xx permanent).
            TransportError: the connection failed or timed out (``TransportTimeout``); temporary.
        """
        client = self._client
        if not recipients:
            raise MessageError("no envelope recipients: give at least one address to send to")
        _envelope.check_address(envelope_from, "envelope from")
        for number, recipient in enumerate(recipients, 1):
            _envelope.check_address(recipient, f"envelope recipient {number}")
        for option in mail_options:
            _envelope.check_parameter(option, "MAIL FROM parameter")
        for option in rcpt_options:
            _envelope.check_parameter(option, "RCPT TO parameter")
        if not self.is_open:
            raise TransportError(f"{client.where}: the session is closed; open a new one")
        framed = _framing.frame_message(data)
        params = [*self._needed_parameters(envelope_from, recipients, framed), *mail_options]
        mail = f"FROM:<{envelope_from}>{''.join(f' {p}' for p in params)}"
        rcpt_suffix = "".join(f" {p}" for p in rcpt_options)
        rcpts = [f"TO:<{recipient}>{rcpt_suffix}" for recipient in recipients]
        if client.has("pipelining"):
            results = self._pipelined_envelope(mail, recipients, rcpts)
        else:
            results = self._lockstep_envelope(mail, recipients, rcpts)
        code, message = client.send_raw("end of DATA", framed.data)
        if code != 250:
            if code == 421:
                client.close()
            raise reply_error(client.where, "message data", code, message)
        self.messages_sent += 1
        reply = reply_text(code, message)
        if log.isEnabledFor(logging.DEBUG):
            accepted = sum(r.accepted for r in results)
            log.debug(
                "%s: message accepted for %d of %d recipients: %s",
                client.where,
                accepted,
                len(results),
                reply,
            )
        return SendResult(recipients=results, reply=reply)

    def _lockstep_envelope(
        self, mail: str, recipients: Sequence[str], rcpts: Sequence[str]
    ) -> list[RecipientResult]:
        """MAIL, each RCPT and DATA, each waiting for its reply; return the results once DATA got 354."""
        client = self._client
        code, message = client.command("MAIL FROM", "MAIL", mail)
        if code != 250:
            raise self._refused("MAIL FROM", code, message)
        results = []
        for recipient, rcpt in zip(recipients, rcpts, strict=True):
            code, message = client.command("RCPT TO", "RCPT", rcpt)
            if code == 421:
                raise self._refused("RCPT TO", code, message)
            results.append(_result(recipient, code, message))
        if not any(r.accepted for r in results):
            self._reset()
            raise self._all_refused(results)
        code, message = client.command("DATA", "DATA")
        if code != 354:
            raise self._refused("DATA", code, message)
        return results

    def _pipelined_envelope(
        self, mail: str, recipients: Sequence[str], rcpts: Sequence[str]
    ) -> list[RecipientResult]:
        """RFC 2920: MAIL, every RCPT and DATA in one write, then their replies in order.

        The same outcomes as :meth:`_lockstep_envelope`. If the server still answers DATA with
        ``354`` after refusing MAIL or every RCPT, the data is ended at once with a lone ``.``
        (RFC 2920 section 3.1) before the transaction is reset, so nothing is delivered.
        """
        client = self._client
        client.send_lines("MAIL FROM", [f"MAIL {mail}", *(f"RCPT {rcpt}" for rcpt in rcpts), "DATA"])
        mail_code, mail_message = client.reply("MAIL FROM")
        if mail_code == 421:
            raise self._refused("MAIL FROM", mail_code, mail_message)
        results = []
        for recipient in recipients:
            code, message = client.reply("RCPT TO")
            if code == 421:
                raise self._refused("RCPT TO", code, message)
            results.append(_result(recipient, code, message))
        data_code, data_message = client.reply("DATA")
        if mail_code != 250 or not any(r.accepted for r in results):
            if data_code == 354:
                client.send_raw("end of empty DATA", _framing.END_OF_DATA)
            elif data_code == 421:
                client.close()
            if mail_code != 250:
                raise self._refused("MAIL FROM", mail_code, mail_message)
            self._reset()
            raise self._all_refused(results)
        if data_code != 354:
            raise self._refused("DATA", data_code, data_message)
        return results

    def _needed_parameters(
        self, envelope_from: str, recipients: Sequence[str], framed: _framing.Framed
    ) -> list[str]:
        client = self._client
        params = []
        if _envelope.needs_smtputf8(envelope_from, *recipients) or framed.header_has_8bit:
            if not client.has("smtputf8"):
                raise MessageError(
                    f"{client.where}: the envelope or the headers contain non-ASCII characters, which need "
                    "the SMTPUTF8 extension, but the server does not offer it; use ASCII addresses (an IDN "
                    "domain in its xn-- form) and RFC 2047 encoded headers"
                )
            params.append("SMTPUTF8")
        if framed.has_8bit:
            if not client.has("8bitmime"):
                raise MessageError(
                    f"{client.where}: the message has 8-bit bytes, but the server does not offer 8BITMIME; "
                    "encode the body as quoted-printable or base64"
                )
            params.append("BODY=8BITMIME")
        if client.has("size"):
            params.append(f"SIZE={len(framed.data)}")
        return params

    def _reset(self) -> None:
        """RSET after a refused transaction; if even that fails the session is closed."""
        if not self.is_open:
            return
        try:
            code, _message = self._client.command("RSET", "RSET")
        except TransportError:
            return
        if code != 250:
            self._client.close()

    def _refused(self, stage: str, code: int, message: bytes) -> ServerReplyError:
        if code == 421:
            self._client.close()
        else:
            self._reset()
        return reply_error(self._client.where, stage, code, message)

    def _all_refused(self, results: list[RecipientResult]) -> ServerReplyError:
        temporary = [r for r in results if r.code is not None and not 500 <= r.code < 600]
        first = temporary[0] if temporary else results[0]
        listing = "; ".join(f"{r.address}: {r.reply}" for r in results)
        advice = "some may succeed later" if temporary else "fix the addresses before sending again"
        return ServerReplyError(
            f"{self._client.where}: every recipient was refused ({listing}); {advice}",
            code=first.code,
            reply=first.reply,
            temporary=bool(temporary),
        )

    def alive(self) -> bool:
        """Check the connection with NOOP; False (and the session closed) when it is gone."""
        if not self.is_open:
            return False
        try:
            code, _message = self._client.command("NOOP", "NOOP")
        except TransportError:
            return False
        if code != 250:
            self._client.close()
            return False
        return True

    def close(self) -> None:
        """Send QUIT and close the connection; never raises, safe to call twice."""
        client = self._client
        if client.sock is None:
            return
        try:
            client.sock.settimeout(min(client.where.timeout, QUIT_TIMEOUT))
            client.putcmd("QUIT")
            client.getreply()
        except Exception:  # noqa: S110 - closing must never raise; the connection goes anyway
            pass
        finally:
            client.close()


def _result(recipient: str, code: int, message: bytes) -> RecipientResult:
    return RecipientResult(
        address=recipient, accepted=code in (250, 251), code=code, reply=reply_text(code, message)
    )
