"""Render 10,000 messages from one template, against plain Jinja2 rendering of the same bodies.

The limit is plain ``jinja2.Environment`` rendering the same sources (subject, To, text, HTML with
autoescape) with each data row, compiled once; mailconduit adds the sandbox, budgets, variant
selection, header checks, address parsing and the Message. Both run in this one process, one after
the other, and the ratio is printed::

    .venv/bin/python bench/templates_render.py [--count 10000]
"""

from __future__ import annotations

import argparse
import time

import jinja2

from mailconduit import Template
from mailconduit._templates import Renderer

TEMPLATE = Template(
    name="order",
    subject="Order {{ order.number }} for {{ customer.name }}",
    to="{{ customer.email }}",
    text=(
        "Hello {{ customer.name }},\n\nThank you for order {{ order.number }}:\n"
        "{% for item in order.lines %}- {{ item.qty }} x {{ item.name }} at {{ '%.2f' % item.price }}\n"
        "{% endfor %}"
        "Total: {{ '%.2f' % order.total }}\n"
    ),
    html=(
        "<p>Hello {{ customer.name }},</p><table>{% for item in order.lines %}<tr><td>{{ item.qty }}</td>"
        "<td>{{ item.name }}</td><td>{{ '%.2f' % item.price }}</td></tr>{% endfor %}</table>"
        "<p>Total: {{ '%.2f' % order.total }}</p>"
    ),
)


def rows(count: int) -> list[dict[str, object]]:
    """``count`` data rows with three order lines each."""
    data = []
    for n in range(count):
        items = [{"qty": i + 1, "name": f"Item <{n}-{i}>", "price": 9.99 * (i + 1)} for i in range(3)]
        data.append(
            {
                "customer": {"name": f"Customer {n} & Co", "email": f"c{n}@example.org"},
                "order": {
                    "number": 100000 + n,
                    "lines": items,
                    "total": sum(float(i["price"]) for i in items),
                },  # type: ignore[arg-type]
            }
        )
    return data


def plain_jinja(data: list[dict[str, object]]) -> float:
    """Seconds for plain Jinja2 to render every field of every row."""
    text_env = jinja2.Environment(autoescape=False)
    html_env = jinja2.Environment(autoescape=True)
    compiled = [text_env.from_string(s) for s in (TEMPLATE.subject, TEMPLATE.to or "", TEMPLATE.text or "")]
    html = html_env.from_string(TEMPLATE.html or "")
    start = time.perf_counter()
    for row in data:
        for template in compiled:
            template.render(**row)
        html.render(**row)
    return time.perf_counter() - start


def mailconduit(data: list[dict[str, object]]) -> float:
    """Seconds for mailconduit to render every row into a Message."""
    renderer = Renderer()
    renderer.render(TEMPLATE, data[0])  # compile once, as plain Jinja2 does above
    start = time.perf_counter()
    for row in data:
        renderer.render(TEMPLATE, row)
    return time.perf_counter() - start


def main() -> None:
    """Run both and print messages/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    count = parser.parse_args().count
    data = rows(count)
    limit = plain_jinja(data)
    ours = mailconduit(data)
    print(f"plain Jinja2 (the limit): {count / limit:,.0f} messages/s ({limit:.2f} s for {count})")
    print(f"mailconduit render_template: {count / ours:,.0f} messages/s ({ours:.2f} s for {count})")
    print(f"ratio (mailconduit / limit): {limit / ours:.2f} of the limit, {ours / limit:.1f}x the time")


if __name__ == "__main__":
    main()
