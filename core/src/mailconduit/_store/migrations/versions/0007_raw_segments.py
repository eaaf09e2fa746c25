"""Raw segments: on SQLite, the bytes of large replicated batches live in segment files.

``message_raw`` rows gain where their bytes are (``segment``, ``segment_offset``,
``segment_length``); rows written before keep their bytes in ``raw`` and the new columns NULL.
A downgrade copies the bytes back into the rows before it drops the columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("message_raw", sa.Column("segment", sa.String(64), nullable=True))
    op.add_column("message_raw", sa.Column("segment_offset", sa.BigInteger(), nullable=True))
    op.add_column("message_raw", sa.Column("segment_length", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # nothing is lost: bytes kept in segment files are copied back into their rows first
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT message_id, segment, segment_offset, segment_length FROM message_raw "
            "WHERE segment IS NOT NULL"
        )
    ).all()
    if rows:
        from pathlib import Path

        from mailconduit._store._segments import read_segment, segment_dir

        directory = segment_dir(Path(str(bind.engine.url.database)))
        for message_id, segment, offset, length in rows:
            bind.execute(
                sa.text("UPDATE message_raw SET raw = :raw WHERE message_id = :id"),
                {"raw": read_segment(directory, segment, offset, length), "id": message_id},
            )
    with op.batch_alter_table("message_raw") as batch:
        batch.drop_column("segment_length")
        batch.drop_column("segment_offset")
        batch.drop_column("segment")
