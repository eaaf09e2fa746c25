"""The built-in ``jinja2`` engine: sandboxed, strict about missing data, escaping on demand, bounded.

RELIABILITY.md fact 5: Jinja2's sandbox stops attribute escapes but not CPU or memory bombs. Every
bomb here would take gigabytes or minutes without the engine's budgets; each must fail fast with
``RenderLimitError`` naming the template.
"""

from __future__ import annotations

import threading

import pytest

from mailconduit import RenderLimitError, TemplateError
from mailconduit._builtins.jinja import Jinja2Engine


@pytest.fixture
def engine() -> Jinja2Engine:
    return Jinja2Engine(max_output_chars=100_000, max_seconds=0.5)


def render(engine: Jinja2Engine, source: str, autoescape: bool = False, **data: object) -> str:
    return engine.render(source, data, name="t", autoescape=autoescape)


# --------------------------------------------------------------------------- ordinary templates


def test_ordinary_templates_still_work(engine: Jinja2Engine) -> None:
    source = (
        "{% for item in items %}{{ loop.index }}. {{ item.name|title }} {{ '%5.2f' % item.price }}"
        "{% if not loop.last %}, {% endif %}{% endfor %} | {{ items|map(attribute='name')|join('/') }}"
        " | {{ '{:>6}'.format(total) }} | {{ 123456789012|filesizeformat }} | {{ 'ab' ~ 'cd' }}"
        " | {{ 'x' * 3 }} | {{ 2 ** 10 }} | {% for i in range(3) %}{{ i }}{% endfor %}"
    )
    items = [{"name": "tea", "price": 3.5}, {"name": "cake", "price": 4.25}]
    assert render(engine, source, items=items, total=7.75) == (
        "1. Tea  3.50, 2. Cake  4.25 | tea/cake |   7.75 | 123.5 GB | abcd | xxx | 1024 | 012"
    )


def test_trailing_newline_is_kept(engine: Jinja2Engine) -> None:
    assert render(engine, "Hi {{ n }}\n", n="Bo") == "Hi Bo\n"


# --------------------------------------------------------------------------- sandbox and strictness


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ data.__init__.__globals__ }}",
        "{{ items.append(1) }}",  # immutable sandbox: no mutation of the caller's data
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_sandbox_refuses_escapes_and_mutation(engine: Jinja2Engine, source: str) -> None:
    items: list[int] = []
    with pytest.raises(TemplateError, match=r"^t, line 1: "):
        render(engine, source, data={}, items=items)
    assert items == []


def test_missing_placeholder_names_template_and_line(engine: Jinja2Engine) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render(
            "Dear {{ name }},\n{{ order.number }}",
            {"name": "Al", "order": {}},
            name="invoice.html",
            autoescape=True,
        )
    assert str(caught.value).startswith("invoice.html, line 2: missing placeholder")
    assert not isinstance(caught.value, RenderLimitError)


def test_missing_placeholder_inside_a_filter_is_not_rendered_empty(engine: Jinja2Engine) -> None:
    with pytest.raises(TemplateError, match="missing placeholder"):
        render(engine, "{{ nobody|upper }}")


def test_syntax_error_names_template_and_line(engine: Jinja2Engine) -> None:
    with pytest.raises(TemplateError, match=r"^welcome\.subject, line 2: "):
        engine.render("ok\n{% for %}", {}, name="welcome.subject", autoescape=False)


def test_autoescape_on_and_off_with_one_engine(engine: Jinja2Engine) -> None:
    assert render(engine, "{{ v }}", autoescape=True, v="<a href='x'>&") == "&lt;a href=&#39;x&#39;&gt;&amp;"
    assert render(engine, "{{ v }}", autoescape=False, v="<a>&") == "<a>&"
    assert render(engine, "{{ v }}", autoescape=True, v="<b>") == "&lt;b&gt;"


def test_lipsum_is_not_available(engine: Jinja2Engine) -> None:
    with pytest.raises(TemplateError, match="'lipsum' is undefined"):
        render(engine, "{{ lipsum(100000) }}")


# --------------------------------------------------------------------------- render bombs


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{{ 'x' * 1000000000 }}", id="repeat"),
        pytest.param("{{ 1000000000 * 'x' }}", id="repeat-reversed"),
        pytest.param("{{ ['x'] * 1000000000 }}", id="repeat-list"),
        pytest.param("{{ 9 ** 1000000 }}", id="power"),
        pytest.param("{% set a = 'x' * 60000 %}{{ a + a }}", id="plus"),
        pytest.param(
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            id="concat-doubling",
        ),
        pytest.param("{{ '%1000000000s' % 'x' }}", id="percent-width"),
        pytest.param("{{ '%*s' % (1000000000, 'x') }}", id="percent-star"),
        pytest.param("{% set a = 'x' * 60000 %}{{ '%s%s' % (a, a) }}", id="percent-result"),
        pytest.param("{{ '{:>1000000000}'.format('x') }}", id="format-width"),
        pytest.param("{{ '{:>{w}}'.format('x', w=1000000000) }}", id="format-nested-width"),
        pytest.param("{{ 'x'.ljust(1000000000) }}", id="method-width"),
        pytest.param("{{ 'x'|center(1000000000) }}", id="filter-width"),
        pytest.param("{{ '%1000000000s'|format('x') }}", id="format-filter"),
        pytest.param("{{ ('ab' * 40000)|replace('a', 'aaaaaaaaaa') }}", id="filter-result"),
        pytest.param("{{ range(1000000)|list }}", id="range"),
        pytest.param("{% for i in range(10000) %}{{ 'x' * 50 }}{% endfor %}", id="output"),
    ],
)
def test_size_bombs_raise_render_limit_error(engine: Jinja2Engine, source: str) -> None:
    with pytest.raises(RenderLimitError, match=r"^t"):
        render(engine, source)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
            id="nested-range",
        ),
        pytest.param(
            "{% set s = 'x' * 50000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
            id="nested-string-loops",
        ),
        pytest.param(
            "{% set s = 'x' * 50000 %}{% for a in s %}{% for b in s if b %}{{ '' }}{% endfor %}{% endfor %}",
            id="filtered-loops",
        ),
        pytest.param(
            "{% for a in data %}{% for b in data %}{% for c in data %}{% endfor %}{% endfor %}{% endfor %}",
            id="loops-over-data",
        ),
    ],
)
def test_cpu_bombs_raise_render_limit_error(engine: Jinja2Engine, source: str) -> None:
    with pytest.raises(RenderLimitError, match=r"took longer than 0\.5 s"):
        render(engine, source, data=list(range(5000)))


def test_a_limit_error_is_a_template_error_naming_the_template(engine: Jinja2Engine) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render("{{ 'x' * 1000000000 }}", {}, name="newsletter.html", autoescape=True)
    assert isinstance(caught.value, RenderLimitError)
    assert str(caught.value).startswith("newsletter.html, line 1: ")


def test_the_engine_renders_again_after_a_limit_error(engine: Jinja2Engine) -> None:
    with pytest.raises(RenderLimitError):
        render(engine, "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}")
    assert render(engine, "{% for i in range(3) %}{{ i }}{% endfor %}") == "012"


def test_budgets_are_per_render_when_threads_share_an_engine(engine: Jinja2Engine) -> None:
    """A slow render in one thread does not spend the budget of a quick one in another."""
    bomb = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
    outcomes: dict[str, object] = {}

    def bomb_thread() -> None:
        try:
            render(engine, bomb)
        except RenderLimitError as exc:
            outcomes["bomb"] = exc

    thread = threading.Thread(target=bomb_thread)
    thread.start()
    quick = [render(engine, "{% for i in range(100) %}{{ i }}{% endfor %}") for _ in range(50)]
    thread.join()
    assert isinstance(outcomes["bomb"], RenderLimitError)
    assert all(q == "".join(str(i) for i in range(100)) for q in quick)
