"""Sample messages for the contract suites: CRLF bytes that catch dot-stuffing and 8-bit mangling."""

from __future__ import annotations

__all__ = ["sample_message"]


def sample_message(
    number: int, *, sender: str = "sender@example.test", to: str = "rcpt@example.test"
) -> bytes:
    """Return a small RFC 5322 message, distinct per ``number``, that transports must keep byte-exact.

    The body has a line that starts with a dot, a line that is only a dot, trailing whitespace, a
    long line and 8-bit UTF-8 text: the places where SMTP dot-stuffing, line-ending conversion or
    charset handling would change bytes.

    Args:
        number: makes the Subject, Message-ID and body unique.
        sender: the From address.
        to: the To address.
    """
    body = (
        f"Message number {number}.\r\n"
        ".a line that starts with a dot\r\n"
        ".\r\n"
        "trailing spaces   \r\n" + "long line " * 90 + "\r\n"
        "Gr\u00fc\u00dfe, \u65e5\u672c\r\n"
    )
    head = (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: contract sample {number}\r\n"
        f"Message-ID: <contract-{number}@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    )
    return (head + body).encode("utf-8")
