"""``adopt``: record what a folder holds now as already seen, without downloading anything.

Each message's key goes into the store's known keys with no message row, so later runs start with
what arrives after the adoption. Keys are recorded under the folder's current UIDVALIDITY, as
replicated ones are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import frozen
from sqlalchemy import insert

from mailconduit._model import Account
from mailconduit._plugins import PluginSet
from mailconduit._replicate._batch import RunContext
from mailconduit._replicate._lock import folder_lock
from mailconduit._replicate._open import check_mailbox, open_mailbox, receive_settings
from mailconduit._replicate._plan import parse_key
from mailconduit._replicate._run import begin_run, load_known, new_run, resolve_account
from mailconduit._store import Store
from mailconduit._store._columns import utcnow
from mailconduit._store._models import KnownKey
from mailconduit._store._repo_log import add_log

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["AdoptResult", "adopt"]

CHUNK = 5000


@frozen(kw_only=True)
class AdoptResult:
    """What ``adopt`` recorded.

    Attributes:
        adopted: keys recorded as seen now.
        known: keys that were already known (replicated or adopted before).
        already_running: another replicator held the folder (PostgreSQL); nothing was recorded.
    """

    adopted: int = 0
    known: int = 0
    already_running: bool = False


def adopt(
    account: Account | str,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    folder: str | None = None,
) -> AdoptResult:
    """Record every message ``folder`` holds now as already seen, without downloading it.

    Args:
        account: the account, or its name in ``config``.
        store: the open store.
        plugins: the loaded plugins.
        config: the configuration ``account`` is looked up in when given by name.
        folder: the folder (default: the account's, else INBOX).
    """
    acct = resolve_account(account, config, plugins=plugins, store=store)
    receive = receive_settings(acct)
    where = folder or receive.effective_folder
    ctx = RunContext(
        account=acct,
        receive=receive,
        folder=where,
        store=store,
        plugins=plugins,
        run=new_run(acct, where, "once", None),
        steps=[],
    )
    mailbox = open_mailbox(acct, plugins)
    try:
        caps = check_mailbox(mailbox, acct, where)
        with folder_lock(store, acct.name, where) as locked:
            if not locked:
                return AdoptResult(already_running=True)
            ctx.uidvalidity_keys = "uidvalidity" in caps
            ctx.uidvalidity = mailbox.state(where).uidvalidity if ctx.uidvalidity_keys else None
            begin_run(ctx, write=True)
            known = load_known(ctx)
            refs = mailbox.list_new(where, known, True, None)
            now = utcnow()
            rows = [
                {
                    "account": acct.name,
                    "folder": where,
                    "key": ref.key,
                    "uidvalidity": parse_key(ref.key, uidvalidity_keys=ctx.uidvalidity_keys).uidvalidity,
                    "message_id": None,
                    "created_at": now,
                }
                for ref in refs
            ]
            with store.session() as session:
                for start in range(0, len(rows), CHUNK):
                    session.execute(insert(KnownKey), rows[start : start + CHUNK])
                add_log(
                    session,
                    "info",
                    f"folder {where!r}: adopted {len(rows)} messages as already seen",
                    account=acct.name,
                )
            return AdoptResult(adopted=len(rows), known=len(known))
    finally:
        mailbox.close()
