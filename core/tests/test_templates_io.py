"""Templates in the store, XML and YAML export/import round trips, hostile files, the templates folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailconduit import Attachment, Template, TemplateError
from mailconduit._message import SendOptions
from mailconduit._store import Store, open_store
from mailconduit._templates import (
    TemplateStore,
    export_xml,
    export_yaml,
    import_xml,
    import_yaml,
    load_template_files,
    render_template,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def full_template(name: str = "welcome") -> Template:
    return Template(
        name=name,
        subject="Hello {{ user.name }}",
        text="Hi {{ user.name }},\r\nline two\n\ttabbed \x01 control\n",
        html='<p>Hi {{ user.name }}</p><img src="cid:logo">',
        from_display_name="{{ team }} team",
        to="{{ user.email }}",
        cc="cc@example.org",
        bcc="audit@example.org",
        reply_to="help@example.org",
        attachments=(
            Attachment(
                filename="logo.png", content=PNG, content_type="image/png", inline=True, content_id="logo"
            ),
            Attachment(filename="terms é.pdf", content=b"%PDF-1.4 \x00\xff", content_type="application/pdf"),
        ),
        language="en",
        default_language="en",
        variants={
            "de": Template(name=name, subject="Hallo {{ user.name }}", text="Hallo\n", attachments=()),
            "fr": Template(name=name, html="<p>Salut</p>", subject=""),
        },
        options=SendOptions(queue=True, delay=timedelta(seconds=90), sign=True, encrypt=False),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


@pytest.mark.parametrize("fmt", ["xml", "yaml"])
def test_round_trip_on_a_fresh_store_reproduces_every_field(fmt: str, tmp_path: Path, store: Store) -> None:
    originals = [full_template("welcome"), Template(name="empty")]
    TemplateStore(store).save_all(originals)
    exported = TemplateStore(store).list()
    document = export_xml(exported) if fmt == "xml" else export_yaml(exported).encode()
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        imported = import_xml(document) if fmt == "xml" else import_yaml(document.decode())
        TemplateStore(fresh).save_all(imported)
        assert TemplateStore(fresh).list() == sorted(originals, key=lambda t: t.name)
    finally:
        fresh.close()


def test_save_needs_replace_for_an_existing_name(store: Store) -> None:
    templates = TemplateStore(store)
    templates.save(Template(name="a", subject="one"))
    with pytest.raises(TemplateError, match=r"already stored.*--replace"):
        templates.save_all([Template(name="b"), Template(name="a", subject="two")])
    assert templates.names() == ["a"]  # nothing of the failed import was saved
    templates.save(Template(name="a", subject="two"), replace=True)
    assert templates.get("a").subject == "two"
    assert templates.delete("a") and templates.names() == []
    with pytest.raises(LookupError, match="no template 'a'"):
        templates.get("a")


HOSTILE = {
    "billion-laughs": b'<?xml version="1.0"?>'
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b'<mailconduit-templates version="1"><template name="x"><subject>&lol2;</subject></template>'
    b"</mailconduit-templates>",
    "external-entity": b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<mailconduit-templates version="1"><template name="x"><subject>&xxe;</subject></template>'
    b"</mailconduit-templates>",
    "malformed": b'<mailconduit-templates version="1"><template name="x"><subject>',
    "wrong-root": b"<html/>",
    "bad-base64": b'<mailconduit-templates version="1"><template name="x">'
    b'<attachment filename="a" content-type="a/b" inline="false">!!!</attachment></template>'
    b"</mailconduit-templates>",
    "unknown-element": b'<mailconduit-templates version="1"><template name="x"><script/></template>'
    b"</mailconduit-templates>",
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_or_malformed_xml_is_a_clear_error_and_changes_nothing(content: bytes, store: Store) -> None:
    TemplateStore(store).save(Template(name="x", subject="kept"))
    with pytest.raises(TemplateError, match=r"upload\.xml"):
        TemplateStore(store).save_all(import_xml(content, source="upload.xml"), replace=True)
    assert TemplateStore(store).get("x").subject == "kept"


def test_yaml_aliases_and_malformed_yaml_are_refused() -> None:
    bomb = 'mailconduit_templates: 1\na: &a ["x","x"]\nb: &b [*a,*a]\ntemplates: []\n'
    with pytest.raises(TemplateError, match="aliases"):
        import_yaml(bomb, source="t.yaml")
    with pytest.raises(TemplateError, match=r"t\.yaml, line"):
        import_yaml("templates: [\n", source="t.yaml")
    with pytest.raises(TemplateError, match="unknown key"):
        import_yaml("mailconduit_templates: 1\ntemplates:\n- name: a\n  subjct: x\n", source="t.yaml")


def test_templates_folder(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.png").write_bytes(PNG)
    (tmp_path / "welcome.yaml").write_text(
        'subject: Hi {{ name }}\nhtml: <img src="cid:logo">\nattachments:\n'
        "- {file: img/logo.png, inline: true, content_id: logo, content_type: image/png}\n"
    )
    (tmp_path / "bundle.yml").write_text(export_yaml([Template(name="other", text="x")]))
    templates = load_template_files(tmp_path)
    assert [t.name for t in templates] == ["other", "welcome"]
    assert templates[1].attachments[0].content == PNG and templates[1].attachments[0].filename == "logo.png"
    (tmp_path / "evil.yaml").write_text("attachments:\n- {file: ../../etc/passwd}\n")
    with pytest.raises(TemplateError, match="not a file inside"):
        load_template_files(tmp_path)


def test_language_variants_from_caller_data_and_default() -> None:
    template = full_template()
    data = {"user": {"name": "Ada", "email": "ada@example.org"}, "team": "Ops"}
    assert render_template(template, data).subject == "Hello Ada"
    german = render_template(template, {**data, "language": "de"})
    assert german.subject == "Hallo Ada" and german.text == "Hallo\n"
    assert german.html == render_template(template, data).html  # empty variant fields come from the base
    assert render_template(template, {**data, "language": "xx"}).subject == "Hello Ada"
    assert render_template(template, {**data, "language": "de"}, language="fr").html == "<p>Salut</p>"
    with pytest.raises(TemplateError, match="no 'xx' variant"):
        render_template(template, data, language="xx")


def test_missing_placeholder_names_template_field_and_placeholder() -> None:
    template = Template(name="t", subject="ok", html="<p>\n{{ user.nmae }}</p>")
    with pytest.raises(TemplateError) as info:
        render_template(template, {"user": {"name": "Ada"}})
    message = str(info.value)
    assert "'t'" in message and "field 'html'" in message and "nmae" in message and "line 2" in message
