"""`mailconduit template`: list, show, render, preview, export (XML/YAML, several), import, --replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit import Attachment, Template
from mailconduit._cli import cli
from mailconduit._store import open_store
from mailconduit._templates import TemplateStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
WELCOME = Template(
    name="welcome",
    subject="Hi {{ name }}",
    to="{{ email }}",
    text="Hello {{ name }}\n",
    html='<p>Hello {{ name }}</p><img src="cid:logo">',
    attachments=(
        Attachment(
            filename="logo.png", content=PNG, content_type="image/png", inline=True, content_id="logo"
        ),
    ),
)


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    store = open_store(url)
    TemplateStore(store).save_all([WELCOME, Template(name="bye", subject="Bye")])
    store.close()
    return url


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", url, "template", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_show_render(url: str, tmp_path: Path) -> None:
    assert [r["name"] for r in json.loads(run(url, "list", "--json"))] == ["bye", "welcome"]
    assert "subject: Hi {{ name }}" in run(url, "show", "welcome")
    (tmp_path / "data.json").write_text(json.dumps({"name": "<Ada>", "email": "ada@example.org"}))
    out = run(url, "render", "welcome", "--data", "data.json")
    assert "To: ada@example.org" in out and "Subject: Hi <Ada>" in out and "<p>Hello &lt;Ada&gt;</p>" in out
    (tmp_path / "data.yaml").write_text("name: Bob\nemail: bob@example.org\n")
    assert "Subject: Hi Bob" in run(url, "render", "welcome", "--data", "data.yaml")


def test_missing_placeholder_is_an_error(url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", url, "template", "render", "welcome"])
    assert result.exit_code != 0 and "welcome" in str(result.exception)


def test_preview_writes_html_with_inline_images(url: str, tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"name": "Ada", "email": "ada@example.org"}))
    out = run(url, "preview", "welcome", "--data", "d.json")
    path = Path(out.strip().rsplit(" ", 1)[1])
    assert path.exists() and "data:image/png;base64," in path.read_text() and "cid:" not in path.read_text()


@pytest.mark.parametrize("fmt", ["xml", "yaml"])
def test_export_several_then_import_needs_replace(url: str, tmp_path: Path, fmt: str) -> None:
    out = run(url, "export", "welcome", "bye", "--format", fmt)
    exported = Path(out.strip().rsplit(" ", 1)[1])
    assert exported.name.startswith("templates-") and exported.suffix == f".{fmt}"
    single = Path(run(url, "export", "welcome", "--format", fmt).strip().rsplit(" ", 1)[1])
    assert single.name.startswith("welcome-20")
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    open_store(fresh).close()
    assert "imported 2 template(s)" in run(fresh, "import", str(exported))
    again = CliRunner().invoke(cli, ["--db", fresh, "template", "import", str(exported)])
    assert again.exit_code != 0 and "--replace" in str(again.exception)
    assert "imported 2" in run(fresh, "import", str(exported), "--replace")
    store = open_store(fresh)
    assert TemplateStore(store).get("welcome") == WELCOME
    store.close()
