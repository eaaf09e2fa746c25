"""The contract suite every template engine passes: ``TemplateEngineContract``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from mailconduit._errors import RenderLimitError, TemplateError
from mailconduit._protocols import TemplateEngine
from mailconduit._testing.contract_base import missing_fixture

__all__ = ["TemplateEngineContract"]


class TemplateEngineContract:
    """Base class of template engine tests; subclass it and override the ``engine`` fixture.

    The template sources are class attributes in Jinja2 syntax; an engine with another syntax
    overrides them. ``placeholder_source`` must render ``{"name": ...}`` as ``Hello <name>!``;
    ``syntax_error_source`` must fail on line ``syntax_error_line``; every entry of
    ``bomb_sources`` must exceed the engine's default budget of time or output.
    """

    placeholder_source: ClassVar[str] = "Hello {{ name }}!"
    missing_source: ClassVar[str] = "Hello\n{{ nobody_gave_this }}!"
    syntax_error_source: ClassVar[str] = "line one\nline two\n{% if %}\n"
    syntax_error_line: ClassVar[int] = 3
    bomb_sources: ClassVar[Sequence[str]] = (
        "{{ 'x' * 1000000000 }}",
        "{% for a in range(10000) %}{% for b in range(10000) %}{{ b }}{% endfor %}{% endfor %}",
    )

    @pytest.fixture
    def engine(self) -> TemplateEngine:
        """The template engine under test."""
        missing_fixture("engine", "the TemplateEngine under test")

    def test_renders_placeholders(self, engine: TemplateEngine) -> None:
        """Placeholders are replaced by the data, non-ASCII text intact.

        How to fix: pass ``data`` to the engine as the template's variables.
        """
        out = engine.render(self.placeholder_source, {"name": "Zo\u00eb"}, name="greeting", autoescape=False)
        assert out == "Hello Zo\u00eb!"

    def test_autoescape_on_escapes_html(self, engine: TemplateEngine) -> None:
        """With ``autoescape=True`` markup in the data is escaped (HTML bodies).

        How to fix: turn the engine's HTML escaping on when ``autoescape`` is True.
        """
        out = engine.render(self.placeholder_source, {"name": "<b>&"}, name="html", autoescape=True)
        assert out == "Hello &lt;b&gt;&amp;!"

    def test_autoescape_off_keeps_text(self, engine: TemplateEngine) -> None:
        """With ``autoescape=False`` the data is inserted as is (subjects, text bodies).

        How to fix: turn escaping off when ``autoescape`` is False; do not cache one setting for both.
        """
        engine.render(self.placeholder_source, {"name": "<b>"}, name="warm-up", autoescape=True)
        out = engine.render(self.placeholder_source, {"name": "<b>&"}, name="text", autoescape=False)
        assert out == "Hello <b>&!"

    def test_missing_placeholder_raises_template_error_naming_the_template(
        self, engine: TemplateEngine
    ) -> None:
        """A placeholder without data raises ``TemplateError`` naming the template, never renders empty.

        How to fix: use strict undefined variables and put ``name`` into the error message.
        """
        with pytest.raises(TemplateError) as caught:
            engine.render(self.missing_source, {}, name="welcome.subject", autoescape=False)
        assert not isinstance(caught.value, RenderLimitError)
        assert "welcome.subject" in str(caught.value)

    def test_syntax_error_names_template_and_line(self, engine: TemplateEngine) -> None:
        """A syntax error raises ``TemplateError`` naming the template and the line.

        How to fix: catch the engine's syntax error and raise ``TemplateError(f"{name}, line {n}: ...")``.
        """
        with pytest.raises(TemplateError) as caught:
            engine.render(self.syntax_error_source, {}, name="broken.html", autoescape=True)
        assert "broken.html" in str(caught.value)
        assert f"line {self.syntax_error_line}" in str(caught.value)

    def test_render_bombs_raise_render_limit_error(self, engine: TemplateEngine) -> None:
        """Templates that would take too long or grow too big raise ``RenderLimitError``.

        How to fix: bound the output size and the render time (checked inside loops and before
        building large repeated strings); raise ``RenderLimitError`` naming the template.
        """
        for number, source in enumerate(self.bomb_sources):
            with pytest.raises(RenderLimitError) as caught:
                engine.render(source, {}, name=f"bomb-{number}", autoescape=False)
            assert f"bomb-{number}" in str(caught.value)
