"""Data from any mapping or object: attrs, dataclass, SQLAlchemy rows and mapped instances, nested."""

from __future__ import annotations

import dataclasses

import attrs
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from mailconduit import Template
from mailconduit._templates import render_template

TEMPLATE = Template(name="t", subject="{{ name }} / {{ address.city }}", to="{{ email }}")


@attrs.define
class Place:
    city: str


@attrs.define
class AttrsUser:
    name: str
    email: str
    address: Place


@dataclasses.dataclass
class DataUser:
    name: str
    email: str
    address: Place


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(50))
    city: Mapped[str] = mapped_column(String(50))


def test_attrs_dataclass_and_mapping_data() -> None:
    for data in (
        AttrsUser("Ada", "ada@example.org", Place("Paris")),
        DataUser("Ada", "ada@example.org", Place("Paris")),
        {"name": "Ada", "email": "ada@example.org", "address": {"city": "Paris"}},
    ):
        message = render_template(TEMPLATE, data)
        assert message.subject == "Ada / Paris" and message.to[0].addr_spec == "ada@example.org"


def test_sqlalchemy_rows_and_instances() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    template = Template(name="t", subject="{{ name }} in {{ city }}", to="{{ email }}")
    with Session(engine) as session:
        session.add(Row(id=1, name="Ada", email="ada@example.org", city="Paris"))
        session.flush()
        instance = session.get(Row, 1)
        row = session.execute(select(Row.name, Row.email, Row.city)).one()
        assert render_template(template, instance).subject == "Ada in Paris"
        assert render_template(template, row).subject == "Ada in Paris"
