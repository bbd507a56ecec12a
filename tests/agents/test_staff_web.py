"""The staff views on the in-memory worker: one person's KPIs, and a team gathered from shares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from faust.types import TP

from streams.web import staff as views
from tests.agents.conftest import ot
from tests.agents.test_staff import T0, fact, to_staff

views.register(ot)
STAFF_EVENTS = ot.topics.staff_events.get_topic_name()


def handler(path: str) -> Any:
    view = ot.app.web.views[path]
    get = type(view).get
    return view, getattr(get, "__wrapped__", get)  # past table_route: we own every key


async def call(path: str, query: dict[str, str], **match: str) -> tuple[int, Any]:
    view, get = handler(path)
    request = SimpleNamespace(query=query, match_info=match)
    response = await get(view, request, **match)
    return response.status, json.loads(response.body)


@pytest.fixture
def owning_partition_0() -> Iterator[None]:
    """This worker owns partition 0 and is not rebalancing (no broker to say so)."""
    with (
        patch.object(views, "ready", return_value=True),
        patch.object(ot.app.consumer, "assignment", return_value={TP(STAFF_EVENTS, 0)}),
    ):
        yield


async def seed() -> None:
    yesterday = T0 - timedelta(days=1)
    await to_staff(
        (fact("a:status_change:u-7", "status_change", team="north"), 0),
        (fact("b:held:u-7", "held", team="north", status="new", seconds=600.0), 1),
        (fact("c:held:u-7", "held", team="north", status="new", seconds=1800.0), 2),
        (fact("d:sla_breach:u-7", "sla_breach", team="north", occurred_at=yesterday), 3),
        (fact("e:correction_made:u-7", "correction_made", team="north", dimension="tags"), 4),
    )


async def test_one_person_in_total_per_status_and_this_period_against_the_previous() -> None:
    await seed()
    status, body = await call("/staff/{person_id}", {"day": "2026-12-08"}, person_id="u-7")
    assert status == 200 and body["person"] == "u-7" and body["team"] == "north"
    assert body["total"]["orders_handled"] == 1 and body["total"]["sla_breaches"] == 1
    assert body["held"]["new"]["count"] == 2 and body["held"]["new"]["total_seconds"] == 2400
    assert body["held"]["new"]["median_seconds"] == 600  # the lower median, within the extremes
    assert body["corrections_made"] == {"tags": 1}
    # 2026-12-01 (T0) is in the previous 7 days of 2026-12-08, not in this period.
    assert body["this_period"]["orders_handled"] == 0
    assert body["previous_period"]["orders_handled"] == 1
    assert [d["day"] for d in body["days"]] == ["2026-11-30", "2026-12-01"]
    status, body = await call("/staff/{person_id}", {}, person_id="nobody")
    assert status == 404 and body["person_id"] == "nobody"
    status, _ = await call("/staff/{person_id}", {"day": "yesterday"}, person_id="u-7")
    assert status == 400


@pytest.mark.usefixtures("owning_partition_0")
async def test_a_team_is_the_sum_of_every_workers_share() -> None:
    await seed()
    local_status, local = await call("/staff", {"team": "north", "scope": "local"})
    assert local_status == 200 and local["partitions"] == [0]
    assert [p["person"] for p in local["people"]] == ["u-7"]
    # Another worker's share: partition 1, one more person of the team.
    other = {
        "partitions": [1],
        "people": [local["people"][0] | {"person": "li.wei"}],
        "teams": [{**local["teams"][0]}],
    }
    with patch.object(views, "gather", new=AsyncMock(return_value=[local, other])):
        status, body = await call("/staff", {"team": "north", "day": date(2026, 12, 1).isoformat()})
    assert status == 200
    assert [p["person"] for p in body["people"]] == ["li.wei", "u-7"]
    north = body["teams"]["north"]
    assert north["total"]["orders_handled"] == 2 and north["total"]["hold_count"] == 4
    assert north["this_period"]["sla_breaches"] == 2  # 2026-11-30 is in the 7 days to 12-01
    with patch.object(views, "gather", new=AsyncMock(return_value=None)):
        status, _ = await call("/staff", {"team": "north"})
    assert status == 503  # a partition missing: no partial figure
    status, body = await call("/staff", {"team": "south", "scope": "local"})
    assert body["people"] == [] and body["teams"] == []
