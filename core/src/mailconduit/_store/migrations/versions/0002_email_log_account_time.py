"""Index the email log by (account, time): `mailconduit log --account NAME` reads it in that order.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_email_log_account_time", "email_log", ["account", "time"])


def downgrade() -> None:
    op.drop_index("ix_email_log_account_time", table_name="email_log")
