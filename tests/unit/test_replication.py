"""The pieces of `replicate` that need no server: column names, custom-field values, conversions, the summary."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from pipedrive_connect.replicate import summary
from pipedrive_connect.replication.entities import ENTITIES, convert, parse_time
from pipedrive_connect.replication.schema import CustomColumn, Database, engine_url, slug
from pipedrive_connect.replication.sync import select


@pytest.mark.parametrize(
    "name,taken,expected",
    [
        ("Région / Zone", set(), "region_zone"),
        ("Title", {"title"}, "title_2"),
        ("Tier", {"tier_id"}, "tier_2"),  # would clash with another enum's id column
        ("2nd phone", set(), "f_2nd_phone"),
        ("¿¡!", set(), "field"),
        ('drop table "x"; --', set(), "drop_table_x"),
    ],
)
def test_custom_field_columns_are_sql_safe_and_unique(name, taken, expected):
    assert slug(name, taken) == expected


def test_enum_and_set_values_are_labels_with_their_ids_alongside():
    options = [{"id": 7, "label": "Gold"}, {"id": 8, "label": "Silver"}]
    assert CustomColumn("k", "tier", "Tier", "enum", options).values(8) == {"tier": "Silver", "tier_id": 8}
    assert CustomColumn("k", "tags", "Tags", "set", options).values([7, 8]) == {
        "tags": ["Gold", "Silver"],
        "tags_ids": [7, 8],
    }
    money = CustomColumn("k", "budget", "Budget", "monetary", []).values({"value": 12.5, "currency": "EUR"})
    assert money == {"budget": 12.5, "budget_currency": "EUR"}
    assert CustomColumn("k", "tier", "Tier", "enum", options).values(None) == {"tier": None, "tier_id": None}


def test_values_take_their_columns_types():
    assert parse_time("2025-03-01T10:00:00Z") == parse_time("2025-03-01 10:00:00") == datetime(2025, 3, 1, 10)
    assert convert({"value": 5, "name": "Ann"}, "i") == 5  # a v1 reference object gives its id
    assert convert("2025-03-01", "d") == date(2025, 3, 1)
    assert convert("12.5", "f") == 12.5 and convert("n/a", "f") is None
    assert convert([1, 2], "s") == "[1, 2]" and convert([1, 2], "j") == [1, 2]


def test_entities_come_in_dependency_order_and_the_costly_feeds_are_opt_in():
    names = [e.name for e in select(None)]
    assert names.index("deal_fields") < names.index("deals") < names.index("deal_products")
    assert "deal_flow" not in names and "deal_participants" not in names
    assert [e.name for e in select(["deal_flow", "deals"])] == ["deals", "deal_flow"]
    with pytest.raises(ValueError, match="unknown entity 'dealz'"):
        select(["dealz"])
    assert len({e.name for e in ENTITIES}) == len(ENTITIES)


def test_postgresql_urls_go_through_psycopg_3():
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


def test_the_summary_table_totals_the_entities():
    row = {"mode": "incremental", "inserted": 3, "updated": 2, "deleted": 1, "calls": 4, "tokens": 40}
    text = summary([{"entity": "deals", **row, "status": "done"}, {"entity": "persons", **row, "status": "done"}])
    lines = text.splitlines()
    assert lines[0].split() == ["entity", "mode", "inserted", "updated", "deleted", "calls", "tokens", "status"]
    assert lines[-1].split() == ["total", "6", "4", "2", "8", "80"]


@pytest.mark.parametrize(
    "value",
    [None, {"a": [1, 2.5, None, "é"]}, [], "x"],
)
def test_json_columns_in_sqlite_hold_what_sqlalchemy_would_write(value, tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'r.db'}")
    column = sa.Column("c", sa.JSON)
    ours = database._bind(sa.Table("t", sa.MetaData(), column))("c")
    theirs = sa.JSON().dialect_impl(database.engine.dialect).bind_processor(database.engine.dialect)
    assert json.loads(ours(value)) == json.loads(theirs(value))
    database.close()


@pytest.mark.parametrize(
    "value",
    [None, datetime(2025, 1, 1, 9, 0, 0), datetime(2025, 12, 31, 23, 59, 59, 1234), datetime(999, 2, 3, 4, 5, 6)],
)
def test_timestamps_in_sqlite_are_the_text_sqlalchemy_would_write(value, tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'r.db'}")
    ours = database._bind(sa.Table("t", sa.MetaData(), sa.Column("c", sa.DateTime)))("c")
    theirs = sa.DateTime().dialect_impl(database.engine.dialect).bind_processor(database.engine.dialect)
    assert ours(value) == theirs(value)
    database.close()
