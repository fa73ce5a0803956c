"""A picklist param may fill a placeholder of the picklist's path (variations of the chosen product)."""

from __future__ import annotations

import pytest
import responses

from pipedrive_connect.errors import StepError

from ..conftest import BASE


def test_the_chosen_record_fills_the_path(runtime):
    with responses.RequestsMock() as rsps:
        rsps.add(
            "GET",
            f"{BASE}/api/v2/products/5/variations",
            json={"success": True, "data": [{"id": 2, "name": "Large"}], "additional_data": {"next_cursor": None}},
        )
        page = runtime.picklist("selectProductVariation", params={"id": 5})
        assert rsps.calls[0].request.url == f"{BASE}/api/v2/products/5/variations?limit=100"
    assert page.options == [{"key": 2, "label": "Large"}]


@pytest.mark.parametrize("params", [{}, {"id": ".."}, {"id": "5/../../users"}, {"id": "%2e%2e"}])
def test_a_missing_or_path_changing_value_is_refused_before_sending(runtime, params):
    with responses.RequestsMock() as rsps:
        with pytest.raises(StepError) as caught:
            runtime.picklist("selectProductVariation", params=params)
        assert not rsps.calls
    assert caught.value.kind == "input" and caught.value.input_path == "id"
