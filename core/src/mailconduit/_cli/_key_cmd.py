"""``mailconduit key``: make Fernet keys, and re-encrypt the store's secrets with the newest key."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext

__all__ = ["key"]


@click.group()
def key() -> None:
    """Make keys that encrypt secrets at rest (passwords, tokens) in the store.

    \b
    Where the key comes from, first match wins:
      secret_key in the config (usually ${env:MAILCONDUIT_KEY})
      MAILCONDUIT_KEY        one key, or several comma-separated, NEWEST FIRST
      MAILCONDUIT_KEY_FILE   a file with the same; it must be mode 0600

    \b
    Rotation: make a new key, put it first and keep the old ones after it,
      export MAILCONDUIT_KEY="$(mailconduit key new),$MAILCONDUIT_KEY"
    then run `mailconduit key rotate` to re-encrypt what is stored with the new key; after that
    the old keys can be removed. Without the key the stored secrets cannot be read: back it up.
    """  # noqa: D301 (\b is click's "keep this paragraph's line breaks")


@key.command()
def new() -> None:
    """Print a new random Fernet key (keep it secret; it is shown only this once)."""
    from mailconduit._crypto import new_key

    click.echo(new_key())


@key.command()
@click.pass_obj
def rotate(obj: CliContext) -> None:
    """Re-encrypt every stored secret and token cache with the newest key."""
    from mailconduit._cli._store_access import open_cli_store, secret_key
    from mailconduit._crypto import load_keyring
    from mailconduit._store._repo_secrets import rotate_all

    keyring = load_keyring(secret_key(obj))
    store = open_cli_store(obj)
    try:
        with store.session() as session:
            count = rotate_all(session, keyring)
    finally:
        store.close()
    click.echo(f"{store.url}: re-encrypted {count} value{'s' if count != 1 else ''} with the newest key")
