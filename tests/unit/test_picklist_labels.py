"""Picklist labels people can tell apart: fields from the record, list items, value objects, optional parts."""

from __future__ import annotations

import pytest

from pipedrive_connect.runtime import format_label

PERSON = "{name}[ <{emails.0}>]"


@pytest.mark.parametrize(
    "template,record,label",
    [
        (
            PERSON,
            {"name": "Jana Weiß", "emails": [{"value": "jana@acme.de", "primary": True}]},
            "Jana Weiß <jana@acme.de>",
        ),
        (PERSON, {"name": "Jana Weiß", "emails": ["jana@acme.de"]}, "Jana Weiß <jana@acme.de>"),  # search items
        (PERSON, {"name": "Tom Baker", "emails": []}, "Tom Baker"),
        (PERSON, {"name": "Tom Baker"}, "Tom Baker"),
        ("{pipeline} › {name}", {"pipeline": "Partners", "name": "Lead in"}, "Partners › Lead in"),
        ("{title} - {status}", {"title": "Order 7", "status": None}, "Order 7"),
        ("{name}", {"name": "{status} [x]", "status": "open"}, "{status} [x]"),  # data is never a template
    ],
)
def test_labels(template, record, label):
    assert format_label(template, record) == label
