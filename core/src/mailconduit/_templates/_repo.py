"""Templates in the store: save (or replace), get, list, delete; importing many is all or nothing.

A template is one ``templates`` row: its unique name and its whole definition as JSON (the shape of
``_codec``), attachments included. Saving a name that exists needs ``replace=True``, so an import
never makes duplicates or overwrites by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconduit._errors import TemplateError
from mailconduit._message import Template
from mailconduit._templates._codec import template_from_dict, template_to_dict

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailconduit._store import Store

__all__ = ["TemplateStore"]


class TemplateStore:
    """Templates kept in the store.

    Args:
        store: the open store (``mailconduit._store.open_store``).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"TemplateStore({self.store.url!r})"

    def save(self, template: Template, *, replace: bool = False) -> None:
        """Store ``template``.

        Raises:
            TemplateError: a template of that name exists and ``replace`` is False.
        """
        self.save_all([template], replace=replace)

    def save_all(self, templates: Sequence[Template], *, replace: bool = False) -> None:
        """Store every template in one transaction: all are saved, or (on any error) none.

        Raises:
            TemplateError: two of ``templates`` share a name, or some names exist and ``replace`` is
                False; the message lists them.
        """
        from sqlalchemy import select

        from mailconduit._store._models import TemplateRow

        names = [t.name for t in templates]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise TemplateError(
                f"the same template name appears twice: {', '.join(doubled)}; nothing was saved"
            )
        with self.store.session() as session:
            rows = {
                r.name: r for r in session.scalars(select(TemplateRow).where(TemplateRow.name.in_(names)))
            }
            if rows and not replace:
                raise TemplateError(
                    f"template(s) already stored: {', '.join(sorted(rows))}; pass replace "
                    "(--replace) to overwrite them; nothing was saved"
                )
            for template in templates:
                definition = template_to_dict(template)
                row = rows.get(template.name)
                if row is None:
                    session.add(TemplateRow(name=template.name, definition=definition))
                else:
                    row.definition = definition
            session.flush()

    def get(self, name: str) -> Template:
        """The stored template ``name``.

        Raises:
            LookupError: no such template; the message lists the stored ones.
        """
        template = self.find(name)
        if template is None:
            known = ", ".join(self.names()) or "none"
            raise LookupError(f"no template {name!r} in the store {self.store.url}; stored: {known}")
        return template

    def find(self, name: str) -> Template | None:
        """The stored template ``name``, or None."""
        from sqlalchemy import select

        from mailconduit._store._models import TemplateRow

        with self.store.session(readonly=True) as session:
            definition = session.scalars(
                select(TemplateRow.definition).where(TemplateRow.name == name)
            ).first()
        return None if definition is None else template_from_dict(definition, name=name)

    def names(self) -> list[str]:
        """Every stored template's name, sorted."""
        from sqlalchemy import select

        from mailconduit._store._models import TemplateRow

        with self.store.session(readonly=True) as session:
            return list(session.scalars(select(TemplateRow.name).order_by(TemplateRow.name)))

    def list(self) -> list[Template]:
        """Every stored template, by name."""
        with self.store.session(readonly=True) as session:
            return _all(session)

    def delete(self, name: str) -> bool:
        """Delete the template ``name``; return whether it existed."""
        from sqlalchemy import delete

        from mailconduit._store._models import TemplateRow

        with self.store.session() as session:
            result = session.execute(delete(TemplateRow).where(TemplateRow.name == name))
            return bool(getattr(result, "rowcount", 0))


def _all(session: Session) -> list[Template]:
    from sqlalchemy import select

    from mailconduit._store._models import TemplateRow

    rows = session.execute(select(TemplateRow.name, TemplateRow.definition).order_by(TemplateRow.name))
    return [template_from_dict(definition, name=name) for name, definition in rows]
