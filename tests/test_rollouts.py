"""What the operator reads from an Argo Rollout, people's actions included.

A person's action shows on the Rollout itself (`spec.paused`, `status.abort`,
`status.promoteFull`, a template that is not the release's) and who did it in
`metadata.managedFields`, which the API server keeps per field manager. The bodies here
have the shape the API server and Argo Rollouts v1.9.3 write (the end-to-end tests
run the real plugin against the real stack).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent_release.api.names import ANNOTATION_RELEASE, ARGO_CONTROLLER_MANAGER, FIELD_MANAGER
from agent_release.controller import rollouts
from agent_release.controller.rollouts import FieldOwner
from builders import wire

PLUGIN = "kubectl-argo-rollouts"
T1, T2 = "2026-12-04T02:59:51Z", "2026-12-04T03:00:28Z"
AT1 = datetime(2026, 12, 4, 2, 59, 51, tzinfo=UTC)


def body(*entries: dict[str, Any], **status: Any) -> dict[str, Any]:
    rollout = wire.rollout_body(index=1, paused=True)
    rollout["metadata"]["managedFields"] = list(entries)
    rollout["status"].update(status)
    return rollout


def operator_writes() -> list[dict[str, Any]]:
    """What the operator and Argo's controller own on every Rollout it manages."""
    template: dict[str, Any] = {"f:metadata": {"f:annotations": {f"f:{ANNOTATION_RELEASE}": {}}}}
    return [
        wire.managed(FIELD_MANAGER, T1, {"f:spec": {"f:template": template}}),
        wire.managed(
            ARGO_CONTROLLER_MANAGER, T1, {"f:status": {"f:phase": {}, "f:abort": {}}}, "status"
        ),
    ]


def test_a_rollout_nobody_touched_shows_no_one_acting() -> None:
    seen = rollouts.view(body(*operator_writes()))
    assert (seen.held, seen.retried, seen.promote_full, seen.undone) == (False,) * 4
    assert seen.paused_by is None
    assert seen.template_by == FieldOwner(FIELD_MANAGER, AT1)
    assert not seen.template_by.outside
    assert seen.abort_by is not None
    assert not seen.abort_by.outside


def test_a_pause_names_its_manager_and_when() -> None:
    paused = wire.managed(PLUGIN, T2, {"f:spec": {"f:paused": {}}})
    rollout = body(*operator_writes(), paused)
    rollout["spec"]["paused"] = True
    seen = rollouts.view(rollout)
    assert seen.held
    assert seen.paused_by == FieldOwner(PLUGIN, datetime(2026, 12, 4, 3, 0, 28, tzinfo=UTC))
    assert seen.paused_by.outside
    assert seen.paused_by.describe() == "kubectl-argo-rollouts at 03:00:28"
    rollout["spec"]["paused"] = False  # resumed: the same field, set back by its manager
    assert not rollouts.view(rollout).held


def test_abort_retry_and_a_full_promotion_name_their_managers() -> None:
    aborted = body(wire.managed(PLUGIN, T1, {"f:status": {"f:abort": {}}}, "status"), abort=True)
    seen = rollouts.view(aborted)
    assert (seen.aborted, seen.retried, seen.abort_by) == (True, False, FieldOwner(PLUGIN, AT1))
    retried = body(
        wire.managed(PLUGIN, T2, {"f:status": {"f:abort": {}}}, "status"),
        abort=False,
        phase="Degraded",
        message="RolloutAborted: Rollout aborted update to revision 2",
    )
    seen = rollouts.view(retried)
    assert (seen.aborted, seen.retried) == (False, True)
    assert seen.abort_by is not None
    assert seen.abort_by.at is not None
    assert seen.abort_by.at > AT1
    # Argo has not caught up with the retry yet: its Degraded is the abort's, not new
    assert seen.phase == "Degraded"
    assert not seen.degraded
    full = body(
        wire.managed(PLUGIN, T2, {"f:status": {"f:promoteFull": {}}}, "status"), promoteFull=True
    )
    seen = rollouts.view(full)
    assert seen.promote_full
    assert seen.promote_full_by is not None
    assert seen.promote_full_by.manager == PLUGIN


def test_degraded_is_degraded_when_no_retry_explains_it() -> None:
    for status in (
        {"phase": "Degraded", "abort": True, "message": "RolloutAborted: aborted"},
        {"phase": "Degraded", "message": "ProgressDeadlineExceeded: too slow"},
    ):
        assert rollouts.view(body(**status)).degraded


def test_an_undo_is_a_template_of_another_release_under_this_ones_claim() -> None:
    rollout = body(
        *operator_writes(),
        wire.managed(
            PLUGIN,
            T2,
            {
                "f:spec": {
                    "f:template": {
                        "f:metadata": {
                            "f:annotations": {
                                f"f:{ANNOTATION_RELEASE}": {},
                                "f:e2e.agentrelease.dev/behaviour": {},
                            }
                        }
                    }
                }
            },
        ),
    )
    rollout["spec"]["template"]["metadata"]["annotations"][ANNOTATION_RELEASE] = "rel-1"
    seen = rollouts.view(rollout)
    assert (seen.release, seen.claimed_by, seen.template_release) == ("rel-1", "rel-2", "rel-1")
    assert seen.undone
    assert seen.template_by is not None
    assert seen.template_by.manager == PLUGIN


def test_no_undo_where_the_release_has_not_taken_the_rollout_over_or_has_no_template() -> None:
    pending = wire.rollout_body(release="rel-1")  # a newer release's takeover not applied yet
    assert not rollouts.view(pending).undone
    workload = wire.rollout_body()
    workload["spec"] = {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment"}}
    assert not rollouts.view(workload).undone
    # an undo to a revision from before the operator: a template naming no release
    bare = wire.rollout_body()
    bare["spec"]["template"]["metadata"]["annotations"] = {}
    assert rollouts.view(bare).undone


def test_a_template_change_by_someone_else_is_found_under_any_of_its_fields() -> None:
    edit = wire.managed("kubectl-edit", T2, {"f:spec": {"f:template": {"f:spec": {}}}})
    seen = rollouts.view(body(*operator_writes(), edit))
    # the release annotation is still the operator's, so that names the template's writer
    assert seen.template_by == FieldOwner(FIELD_MANAGER, AT1)
    alone = rollouts.view(body(edit))
    assert alone.template_by is not None
    assert alone.template_by.manager == "kubectl-edit"


@pytest.mark.parametrize(
    ("fields", "owner"),
    [
        (
            [{"manager": PLUGIN, "time": "yesterday", "fieldsV1": {"f:spec": {"f:paused": {}}}}],
            FieldOwner(PLUGIN, None),  # the manager still counts; when is unknown
        ),
        ([{"fieldsV1": {"f:spec": {"f:paused": {}}}}], None),  # no manager
        ([{"manager": PLUGIN, "fieldsV1": {"f:spec": "not a tree"}}], None),
        (["not an entry"], None),
        ("not a list", None),
    ],
)
def test_odd_managed_fields_never_crash_the_view(fields: Any, owner: FieldOwner | None) -> None:
    rollout = wire.rollout_body()
    rollout["metadata"]["managedFields"] = fields
    rollout["spec"]["paused"] = True
    seen = rollouts.view(rollout)
    assert seen.held
    assert seen.paused_by == owner


def test_argo_step_indexes_map_to_the_releases_steps() -> None:
    # steps 5% / 50% / 100%: setWeight 5, pause, setWeight 50, pause (4 Argo steps)
    assert [rollouts.step_at(i, 3) for i in range(5)] == [1, 1, 2, 2, 3]
    assert rollouts.pause_index(2) == 3
