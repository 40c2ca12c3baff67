"""Which canaries the analysis loop looks at, and when: one batch per interval."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent_release.controller.analysis import due
from agent_release.controller.registry import Baking, track

from .test_machine import canary_status, policy, release

EVERY_15S = policy(analysisInterval="15s").spec.canary.wire()


def body(name: str, started: float, **status: Any) -> dict[str, Any]:
    when = datetime.fromtimestamp(started, UTC)
    item = release(**canary_status(started=when, canary=EVERY_15S, **status)).wire()
    item["metadata"]["name"] = name
    return item


def baking(item: dict[str, Any]) -> Baking | None:
    return track(item).baking


def test_canaries_started_at_different_times_share_one_look() -> None:
    # the test policy looks every 15 s: grid points are multiples of 15 s
    items = [baking(body(f"r{i}", 1_000_000.0 + 3 * i)) for i in range(5)]
    assert all(item is not None for item in items)
    ready = [item for item in items if item is not None]
    groups = due(ready, now=1_000_030.5, attempts={})
    assert list(groups) == [(15.0, 1_000_020.0)]  # one batch, at the grid point
    assert sorted(i.key[1] for i in groups[(15.0, 1_000_020.0)]) == ["r0", "r1"]
    # the others have not had a whole interval yet; fifteen seconds later all are due
    later = due(ready, now=1_000_035.0, attempts={})
    assert [len(g) for g in later.values()] == [5]


def test_a_canary_is_looked_at_once_per_grid_point() -> None:
    item = baking(body("r", 1_000_000.0))
    assert item is not None
    attempts = {item.key: 1_000_020.0 - 5.0}
    assert due([item], now=1_000_021.0, attempts=attempts) != {}
    attempts[item.key] = 1_000_020.0
    assert due([item], now=1_000_034.0, attempts=attempts) == {}
    assert due([item], now=1_000_035.0, attempts=attempts) != {}


def test_the_registry_keeps_what_looks_need_not_the_object() -> None:
    entry = track(body("r", 1_000_000.0))
    assert entry.phase == "Canary"
    assert not entry.final
    assert entry.baking is not None
    assert entry.baking.previous is None  # no look yet at this step
    promoted = body("p", 1_000_000.0)
    promoted["status"]["phase"] = "Promoted"
    assert track(promoted).final
    assert track(promoted).baking is None
    assert track({"metadata": {"name": "new"}}).phase == "Pending"
