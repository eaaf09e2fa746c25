"""``file_invoices``: what is filed where, once; what is left alone; rejection; its YAML settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailconduit import ActionResult, Attachment, ConfigError, PluginSet, load_config, load_plugins
from mailconduit_example_maildir import FileInvoices, FileInvoicesSettings, InvoiceMatch, plugin
from mailconduit_example_maildir._invoices import safe_name

from .conftest import INVOICE_PDF, PDF, RecordingContext, invoice_message, stored

LOGO = Attachment(filename="logo.png", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 16, content_type="image/png")


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "invoices"


def test_files_the_pdf_by_date_and_sender_and_says_so(folder: Path, context: RecordingContext) -> None:
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    raw = invoice_message(attachments=(INVOICE_PDF, LOGO))
    result = action(stored(raw), context)
    assert result == ActionResult(
        accepted=True, annotations={"file_invoices.files": "2024-03-01/billing@acme.test/invoice.pdf"}
    )
    assert tree(folder) == {"2024-03-01/billing@acme.test/invoice.pdf": PDF}
    assert context.logs == [
        ("info", f"file_invoices: message 1: 1 new, 0 already filed in {folder}/2024-03-01/billing@acme.test")
    ]


def test_running_again_on_the_same_message_adds_nothing(folder: Path, context: RecordingContext) -> None:
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    message = stored(invoice_message())
    first = action(message, context)
    again = action(message, context)
    assert first.annotations == again.annotations
    assert tree(folder) == {"2024-03-01/billing@acme.test/invoice.pdf": PDF}
    assert context.logs[-1][1].endswith(f"0 new, 1 already filed in {folder}/2024-03-01/billing@acme.test")
    assert sorted(p.name for p in folder.rglob("*")) == ["2024-03-01", "billing@acme.test", "invoice.pdf"]


def test_a_different_file_under_a_taken_name_is_kept_beside_it(
    folder: Path, context: RecordingContext
) -> None:
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    again = PDF + b"% March again\n"
    other = Attachment(filename="invoice.pdf", content=again, content_type="application/pdf")
    action(stored(invoice_message()), context)
    action(stored(invoice_message(attachments=(other,), number=2), number=2), context)
    action(stored(invoice_message(attachments=(other,), number=2), number=2), context)
    assert tree(folder) == {
        "2024-03-01/billing@acme.test/invoice (2).pdf": other.content,
        "2024-03-01/billing@acme.test/invoice.pdf": PDF,
    }


def test_matches_by_file_name_or_by_content_type(folder: Path, context: RecordingContext) -> None:
    action = FileInvoices(
        FileInvoicesSettings(
            folder=folder, match=InvoiceMatch(filenames=("*.XML",), content_types=("application/pdf",))
        )
    )
    scan = Attachment(filename="scan", content=PDF, content_type="application/pdf")
    xml = Attachment(filename="e-invoice.xml", content=b"<Invoice/>", content_type="application/octet-stream")
    notes = Attachment(filename="notes.txt", content=b"hello", content_type="text/plain")
    action(stored(invoice_message(attachments=(scan, xml, notes, LOGO))), context)
    assert tree(folder) == {
        "2024-03-01/billing@acme.test/e-invoice.xml": b"<Invoice/>",
        "2024-03-01/billing@acme.test/scan": PDF,
    }


def test_a_subject_that_does_not_match_leaves_the_message_alone(
    folder: Path, context: RecordingContext
) -> None:
    match = InvoiceMatch(subject=r"invoice|rechnung")
    action = FileInvoices(FileInvoicesSettings(folder=folder, match=match))
    newsletter = invoice_message(subject="Our spring catalogue")
    assert action(stored(newsletter, subject="Our spring catalogue"), context) == ActionResult(accepted=True)
    assert tree(folder) == {}
    german = invoice_message(subject="RECHNUNG 17")
    assert action(stored(german, subject="RECHNUNG 17"), context).accepted
    assert list(tree(folder)) == ["2024-03-01/billing@acme.test/invoice.pdf"]


def test_a_message_without_invoices_is_accepted_and_nothing_is_made(
    folder: Path, context: RecordingContext
) -> None:
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    assert action(stored(invoice_message(attachments=(LOGO,))), context) == ActionResult(accepted=True)
    assert not folder.exists() and context.logs == []


def test_a_file_name_from_the_sender_is_never_a_path(folder: Path, context: RecordingContext) -> None:
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    sneaky = Attachment(filename="../../../etc/cron.d/x.pdf", content=PDF, content_type="application/pdf")
    dots = Attachment(filename="..", content=PDF + b"2", content_type="application/pdf")
    action(stored(invoice_message(attachments=(sneaky, dots))), context)
    assert tree(folder.parent) == {
        "invoices/2024-03-01/billing@acme.test/attachment-2": PDF + b"2",
        "invoices/2024-03-01/billing@acme.test/x.pdf": PDF,
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("..\\..\\win.pdf", "win.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("a\r\nb:c?.pdf", "a__b_c_.pdf"),
        ("", "fallback"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_name(given: str, expected: str) -> None:
    assert safe_name(given, "fallback") == expected


def test_no_date_and_no_sender_still_file_somewhere_sensible(folder: Path, context: RecordingContext) -> None:
    raw = invoice_message().replace(b"From: billing@acme.test\r\n", b"")
    raw = b"".join(line for line in raw.splitlines(keepends=True) if not line.startswith(b"Date:"))
    action = FileInvoices(FileInvoicesSettings(folder=folder))
    assert action(stored(raw), context).accepted
    assert list(tree(folder)) == ["undated/unknown-sender/invoice.pdf"]


def test_the_date_folder_is_the_day_the_sender_wrote(folder: Path, context: RecordingContext) -> None:
    sydney = timezone(timedelta(hours=10))
    raw = invoice_message(date=datetime(2024, 3, 1, 8, 0, tzinfo=sydney))  # 29 Feb, 22:00 UTC
    assert b"+1000" in raw
    FileInvoices(FileInvoicesSettings(folder=folder))(stored(raw), context)
    assert list(tree(folder)) == ["2024-03-01/billing@acme.test/invoice.pdf"]


def test_an_unwritable_folder_rejects_the_message_with_the_reason(
    tmp_path: Path, context: RecordingContext
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    action = FileInvoices(FileInvoicesSettings(folder=blocker / "invoices"))
    result = action(stored(invoice_message()), context)
    assert result.accepted is False
    assert result.reason == (
        f"cannot file invoices into {blocker}/invoices/2024-03-01/billing@acme.test: Not a directory"
    )
    assert blocker.read_text() == "in the way"


# ----------------------------------------------------------------------------------- config


def plugins() -> PluginSet:
    return load_plugins(autoload=False, extra=[("example_maildir", plugin)])


def pipeline_yaml(step: str, tmp_path: Path) -> str:
    return f"""
accounts:
  inbox:
    email: accounts@example.test
    receive: {{protocol: maildir, path: {tmp_path / "in"}}}
pipelines:
  invoices:
    receive: inbox
    steps:
      - store
      - {step}
"""


def test_the_step_settings_come_from_the_yaml(tmp_path: Path) -> None:
    match = '{subject: "invoice", filenames: ["*.pdf"]}'
    step = f"file_invoices: {{folder: {tmp_path / 'inv'}, match: {match}}}"
    config = load_config(pipeline_yaml(step, tmp_path), plugins())
    steps = config.pipelines["invoices"].steps
    assert [s.name for s in steps] == ["store", "file_invoices"]
    assert steps[1].settings == FileInvoicesSettings(
        folder=tmp_path / "inv", match=InvoiceMatch(subject="invoice", filenames=("*.pdf",))
    )


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        ("file_invoices: {folder: invoices}", "folder", "must be an absolute path, got 'invoices'"),
        (
            "file_invoices: {folder: /srv/inv, match: {subject: '(unclosed'}}",
            "match.subject",
            "is not a valid regular expression",
        ),
        (
            "file_invoices: {folder: /srv/inv, match: {filenames: [], content_types: []}}",
            "match",
            "needs at least one pattern in filenames or content_types",
        ),
        ("file_invoices: {folder: /srv/inv, matches: {}}", "matches", "unknown key"),
        ("file_invoices", "folder", "is required (missing)"),
    ],
)
def test_step_mistakes_are_config_errors_at_their_path(
    tmp_path: Path, step: str, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(pipeline_yaml(step, tmp_path), plugins())
    problems = dict(caught.value.problems)
    where = f"pipelines.invoices.steps[1].file_invoices.{path}"
    assert where in problems, problems
    assert message in problems[where]
