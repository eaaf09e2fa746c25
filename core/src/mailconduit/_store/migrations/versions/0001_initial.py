"""The initial schema: messages, raw bytes, attachments, folder state, pending changes, log, templates, secrets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Types are spelled out here, not imported from the models, so this revision stays what it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
NAME = 200
FOLDER = 1000


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


def _message_fk(table: str, ondelete: str, nullable: bool = False) -> sa.Column:
    fk = sa.ForeignKey("messages.id", ondelete=ondelete, name=f"fk_{table}_message_id_messages")
    return sa.Column("message_id", ID, fk, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "messages",
        _id(),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("account", sa.String(NAME), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("folder", sa.String(FOLDER), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("uidl", sa.String(255), nullable=True),
        sa.Column("header_message_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("from_header", sa.Text(), nullable=True),
        sa.Column("date_header", sa.Text(), nullable=True),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("defects", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("envelope_from", sa.Text(), nullable=True),
        sa.Column("recipients", JSON, nullable=True),
        sa.Column("scheduled_at", TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=True),
        sa.Column("claimed_by", sa.String(NAME), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint(
            "account", "folder", "uidvalidity", "uid", name="uq_messages_account_folder_uidvalidity_uid"
        ),
        sa.UniqueConstraint("account", "uidl", name="uq_messages_account_uidl"),
    )
    op.create_index("ix_messages_account_sha256", "messages", ["account", "sha256"])
    op.create_index("ix_messages_account_header_message_id", "messages", ["account", "header_message_id"])
    op.create_index(
        "ix_messages_direction_status_next_attempt_at", "messages", ["direction", "status", "next_attempt_at"]
    )

    op.create_table(
        "message_raw",
        _message_fk("message_raw", "CASCADE"),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_message_raw"),
    )

    op.create_table(
        "attachments",
        _id(),
        _message_fk("attachments", "CASCADE"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content_id", sa.Text(), nullable=True),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_message_id", "attachments", ["message_id"])

    op.create_table(
        "folder_state",
        sa.Column("account", sa.String(NAME), nullable=False),
        sa.Column("folder", sa.String(FOLDER), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account", "folder", name="pk_folder_state"),
    )

    op.create_table(
        "pending_changes",
        _id(),
        _message_fk("pending_changes", "CASCADE"),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_folder", sa.String(FOLDER), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("applied_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pending_changes"),
    )
    op.create_index("ix_pending_changes_state_message_id", "pending_changes", ["state", "message_id"])

    op.create_table(
        "email_log",
        _id(),
        sa.Column("time", TIME, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("account", sa.String(NAME), nullable=True),
        _message_fk("email_log", "SET NULL", nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_email_log"),
    )
    op.create_index("ix_email_log_time", "email_log", ["time"])

    op.create_table(
        "templates",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_templates"),
        sa.UniqueConstraint("name", name="uq_templates_name"),
    )

    op.create_table(
        "secrets",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
        sa.UniqueConstraint("name", name="uq_secrets_name"),
    )

    op.create_table(
        "token_cache",
        sa.Column("account", sa.String(NAME), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_token_cache"),
    )


def downgrade() -> None:
    for table in (
        "token_cache",
        "secrets",
        "templates",
        "email_log",
        "pending_changes",
        "folder_state",
        "attachments",
        "message_raw",
        "messages",
    ):
        op.drop_table(table)
