"""Pipelines and the runner: flag changes on pending server changes, and the runner's job status.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NAME = 200
FOLDER = 1000


def upgrade() -> None:
    with op.batch_alter_table("pending_changes") as batch:
        batch.add_column(sa.Column("flags", sa.Text(), nullable=True))
    op.create_table(
        "runner_status",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("account", sa.String(NAME), nullable=True),
        sa.Column("folder", sa.String(FOLDER), nullable=True),
        sa.Column("runner", sa.String(NAME), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("heartbeat_at", TIME, nullable=True),
        sa.Column("last_run_at", TIME, nullable=True),
        sa.Column("last_success_at", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIME, nullable=True),
        sa.Column("lag", sa.Integer(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("token_expires_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("kind", "name", name="pk_runner_status"),
    )


def downgrade() -> None:
    op.drop_table("runner_status")
    with op.batch_alter_table("pending_changes") as batch:
        batch.drop_column("flags")
