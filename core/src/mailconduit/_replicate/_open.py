"""Open an account's mailbox through its registered transport and authenticator, and check it can do the job.

Everything an after-replication action needs is checked before anything is fetched: delete needs
the ``delete`` capability, a move needs ``move`` or ``copy`` and a target folder the server lists,
and a folder other than INBOX needs ``folders``. Each failure is a ``ConfigError`` naming the
setting, the server's shortfall and what to change.
"""

from __future__ import annotations

from mailconduit._errors import ConfigError
from mailconduit._model import Account, AfterReplication, MoveTo, ReceiveSettings
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Mailbox
from mailconduit._types import Credentials

__all__ = ["check_mailbox", "open_mailbox", "open_with_credentials", "receive_settings"]


def receive_settings(account: Account) -> ReceiveSettings:
    """The account's receive settings, or a ``ConfigError`` saying the account has none."""
    if account.receive is None:
        raise ConfigError(
            [
                (
                    f"accounts.{account.name}.receive",
                    "is not set; add a receive: section to replicate this account",
                )
            ]
        )
    return account.receive


def open_mailbox(account: Account, plugins: PluginSet) -> Mailbox:
    """Connect and log in with the account's receive transport and authenticator."""
    return open_with_credentials(account, plugins)[0]


def open_with_credentials(account: Account, plugins: PluginSet) -> tuple[Mailbox, Credentials | None]:
    """``open_mailbox``, also giving the credentials used (a watch re-logs in before a token lapses)."""
    receive = receive_settings(account)
    transport = plugins.receive_transport(receive.protocol)
    credentials = None
    if account.auth is not None:
        credentials = plugins.authenticator(account.auth.method).credentials(account, receive.protocol)
    return transport.open(account, credentials), credentials


def check_mailbox(mailbox: Mailbox, account: Account, folder: str) -> frozenset[str]:
    """Return the mailbox's capabilities after checking the run can do what the account asks."""
    receive = receive_settings(account)
    caps = mailbox.capabilities()
    where = f"accounts.{account.name}.receive"
    server = f"the {receive.protocol} server {receive.host}"
    if folder != "INBOX" and "folders" not in caps:
        raise ConfigError(
            [
                (
                    f"{where}.folder",
                    f"{server} has no folders besides INBOX (asked for {folder!r}); leave folder unset",
                )
            ]
        )
    after = receive.after_replication
    if after is AfterReplication.DELETE and "delete" not in caps:
        raise ConfigError(
            [
                (
                    f"{where}.after_replication",
                    f"delete is refused: {server} cannot delete exactly the replicated messages "
                    "(IMAP needs UIDPLUS, POP3 needs UIDL); use after_replication: none or move_to",
                )
            ]
        )
    if isinstance(after, MoveTo):
        if not caps & {"move", "copy"}:
            raise ConfigError(
                [
                    (
                        f"{where}.after_replication.move_to",
                        f"{server} can neither move nor copy messages; use none",
                    )
                ]
            )
        names = [f.name for f in mailbox.folders()]
        if after.folder not in names:
            shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
            problem = f"folder {after.folder!r} does not exist on {server}; create it or use one of {shown}"
            raise ConfigError([(f"{where}.after_replication.move_to", problem)])
    return caps
