"""Learnt certificates: signer certificates of validly signed mail received, for encrypting to them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
NAME = 200
ADDRESS = 320


def upgrade() -> None:
    op.create_table(
        "learnt_certificates",
        sa.Column("account", sa.String(NAME), nullable=False),
        sa.Column("address", sa.String(ADDRESS), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("addresses", JSON, nullable=False),
        sa.Column("key_usage", JSON, nullable=False),
        sa.Column("not_before", TIME, nullable=False),
        sa.Column("not_after", TIME, nullable=False),
        sa.Column("first_seen_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=False),
        sa.Column(
            "message_id",
            ID,
            sa.ForeignKey(
                "messages.id", ondelete="SET NULL", name="fk_learnt_certificates_message_id_messages"
            ),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("account", "address", "sha256", name="pk_learnt_certificates"),
    )


def downgrade() -> None:
    op.drop_table("learnt_certificates")
