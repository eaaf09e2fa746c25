"""Known keys: what replication is finished with, and what ``adopt`` recorded without downloading.

Revision ID: 0004
Revises: 0002
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
NAME = 200
FOLDER = 1000


def upgrade() -> None:
    op.create_table(
        "known_keys",
        sa.Column("account", sa.String(NAME), nullable=False),
        sa.Column("folder", sa.String(FOLDER), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column(
            "message_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_known_keys_message_id_messages"),
            nullable=True,
        ),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account", "folder", "key", name="pk_known_keys"),
    )
    op.create_index(
        "ix_known_keys_account_folder_uidvalidity", "known_keys", ["account", "folder", "uidvalidity"]
    )


def downgrade() -> None:
    op.drop_index("ix_known_keys_account_folder_uidvalidity", table_name="known_keys")
    op.drop_table("known_keys")
