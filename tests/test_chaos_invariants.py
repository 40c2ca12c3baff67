"""The chaos campaign's invariants (e2e/chaos/invariants.py) on histories made by hand:
each check finds the violation it exists for, and passes a clean history."""

from __future__ import annotations

from chaos import invariants
from chaos.faults import Fault, Kind
from chaos.invariants import Effect
from chaos.releases import ReleaseRun
from chaos.watch import LeaseSeen, RolloutSeen

PAUSES = (1, 3)
BAKE = 30.0
INTERVAL = 10.0
T0 = 1_000_000.0


def seen(
    at: float,
    rv: int,
    index: int,
    *,
    paused_since: float | None = None,
    abort: bool = False,
    phase: str = "Paused",
    stable: str = "old",
    reason: str | None = None,
    release: str = "a-v2",
) -> RolloutSeen:
    return RolloutSeen(
        at=T0 + at,
        namespace="ns",
        name="a",
        resource_version=rv,
        deleted=False,
        caught_up=True,
        template_release=release,
        step_index=index,
        paused_since=None if paused_since is None else T0 + paused_since,
        abort=abort,
        phase=phase,
        stable_rs=stable,
        current_pod_hash="new",
        rollback_reason=reason,
    )


def good_history() -> list[RolloutSeen]:
    return [
        seen(0, 1, 0, phase="Progressing"),
        seen(1, 2, 1, paused_since=1),
        seen(40, 3, 2, phase="Progressing"),
        seen(41, 4, 3, paused_since=41),
        seen(80, 5, 4, phase="Progressing"),
        seen(82, 6, 4, phase="Healthy", stable="new"),
    ]


def run(kind: str = "good", **changes: object) -> ReleaseRun:
    phase, reason = ("Promoted", "Promoted") if kind == "good" else ("RolledBack", None)
    base = ReleaseRun("ns", "a", "a-v2", kind, False, T0, T0 + 90, phase, reason)
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def check(history: list[RolloutSeen], release: ReleaseRun) -> list[str]:
    canaries = invariants.history([release], history)
    return invariants.outcomes([release], canaries) + invariants.steps(
        [release], canaries, PAUSES, BAKE, INTERVAL
    )


def test_a_clean_canary_breaks_nothing() -> None:
    assert check(good_history(), run()) == []


def test_a_pause_promoted_at_once_is_a_skipped_step() -> None:
    history = good_history()
    del history[3]  # straight from the first pause past the second one
    assert check(history, run()) == ["a-v2: the pause at index 3 was skipped"]


def test_a_pause_cut_short_is_found() -> None:
    history = good_history()
    history[4] = seen(50, 5, 4, phase="Progressing")  # 9 s at the second pause
    assert check(history, run()) == [
        "a-v2: promoted past the pause at index 3 after 9.0 s, before its 30 s bake "
        "(counted from the interval it began in)"
    ]
    # the bake counts on the looks' clock: from 40 s (the interval the pause began in)
    history[4] = seen(69.5, 5, 4, phase="Progressing")
    assert len(check(history, run())) == 1
    history[4] = seen(70.2, 5, 4, phase="Progressing")
    assert check(history, run()) == []


def test_a_step_applied_twice_is_found() -> None:
    history = [
        *good_history()[:4],
        seen(70, 10, 1, paused_since=70),
        seen(71, 11, 3, paused_since=100),
        seen(140, 12, 4, phase="Healthy", stable="new"),
    ]
    found = check(history, run())
    assert "a-v2: step index went back from 3 to 1" in found
    assert "a-v2: pause at index 1 entered 2 times" in found
    assert "a-v2: pause at index 3 entered 2 times" in found


def test_a_good_release_rolled_back_or_a_bad_one_promoted_is_found() -> None:
    aborted = [*good_history()[:3], seen(45, 7, 0, abort=True, phase="Degraded", reason="X")]
    found = check(aborted, run(phase="RolledBack"))
    assert "a-v2 (good): Argo never promoted it" in found
    assert "a-v2 (good): Argo aborted it" in found
    assert "a-v2 (good): the operator says RolledBack" in found
    promoted = check(good_history(), run("violating", reason="PolicyViolation"))
    assert "a-v2 (violating): Argo never aborted it" in promoted
    assert "a-v2 (violating): Argo promoted it" in promoted


def test_a_bad_release_must_be_rolled_back_for_its_reason() -> None:
    history = [
        *good_history()[:2],
        seen(12, 3, 0, abort=True, phase="Degraded"),
        seen(13, 4, 0, abort=True, phase="Degraded", reason="GuardrailBreached"),
    ]
    right = run("failing", reason="GuardrailBreached")
    assert check(history, right) == []
    wrong = run("violating", reason="PolicyViolation")
    assert check(history, wrong) == [
        "a-v2 (violating): rolled back for GuardrailBreached, not PolicyViolation"
    ]


def test_versions_of_the_previous_canary_do_not_count() -> None:
    stale = seen(-1, 0, 4, phase="Healthy")
    stale = RolloutSeen(**{**stale.__dict__, "current_pod_hash": "older"})
    assert check([stale, *good_history()], run()) == []


def lease(rv: int, holder: str, acquired: float, renewed: float) -> LeaseSeen:
    return LeaseSeen(T0 + renewed, rv, holder, T0 + acquired, T0 + renewed)


def test_an_effect_outside_the_senders_tenure_is_found() -> None:
    leases = [
        lease(1, "a_1", 0, 0),
        lease(2, "a_1", 0, 1),
        lease(3, "b_2", 8, 8),  # a stopped past its lease; b took over
        lease(4, "b_2", 8, 9),
    ]
    held = invariants.tenures(leases, renew_deadline=4)
    assert [(t.holder, t.start - T0, t.end - T0) for t in held] == [
        ("a_1", 0, 5),
        ("b_2", 8, 13),
    ]
    fine = [Effect(T0 + 4.9, "a_1", "PromoteStep", "r"), Effect(T0 + 9, "b_2", "PromoteStep", "r")]
    assert invariants.leadership(fine, held) == []
    late = [Effect(T0 + 8.5, "a_1", "PromoteStep", "r")]
    assert invariants.leadership(late, held) == [
        f"a_1 sent PromoteStep for r at {T0 + 8.5:.3f} while the Lease was held by ['b_2']"
    ]


def fault(kind: Kind, out_from: float, out_to: float, recovered: float) -> Fault:
    return Fault(kind, "x", T0 + out_from, T0 + out_to, T0 + recovered)


def test_a_promotion_while_prometheus_is_out_is_found() -> None:
    canaries = invariants.history([run()], good_history())
    during = [fault(Kind.RESTART_PROMETHEUS, 30, 45, 50)]
    assert invariants.prometheus_down(canaries, during, PAUSES) == [
        "a-v2: promoted past index 1 at 1000040.0, 10.0 s into a Prometheus outage"
    ]
    just_before = [fault(Kind.RESTART_PROMETHEUS, 38, 60, 62)]  # decided on the last look
    assert invariants.prometheus_down(canaries, just_before, PAUSES) == []
    other = [fault(Kind.RESTART_API_SERVER, 30, 45, 50)]
    assert invariants.prometheus_down(canaries, other, PAUSES) == []


def test_a_promotion_is_when_its_pause_was_cleared_not_when_argo_moved_on() -> None:
    """The pause released before Prometheus went out, Argo's controller (busy, just
    restarted) moved the index during the outage: decided with metrics, no violation;
    released during the outage, it is one."""
    history = [
        seen(0, 1, 0, phase="Progressing"),
        seen(1, 2, 1, paused_since=1),
        seen(20, 3, 1, phase="Progressing"),  # the pause cleared at 20 s...
        seen(40, 4, 2, phase="Progressing"),  # ...and Argo moved on at 40 s
        seen(41, 5, 3, paused_since=41),
        seen(80, 6, 4, phase="Progressing"),
        seen(82, 7, 4, phase="Healthy", stable="new"),
    ]
    canaries = invariants.history([run()], history)
    after_the_release = [fault(Kind.RESTART_PROMETHEUS, 30, 45, 50)]
    assert invariants.prometheus_down(canaries, after_the_release, PAUSES) == []
    before_it = [fault(Kind.RESTART_PROMETHEUS, 10, 25, 30)]
    assert invariants.prometheus_down(canaries, before_it, PAUSES) == [
        "a-v2: promoted past index 1 at 1000020.0, 10.0 s into a Prometheus outage"
    ]


def test_a_release_past_its_time_is_stuck_and_faults_extend_the_time() -> None:
    expected = {"first": 30.0, "good": 100.0, "violating": 50.0, "failing": 50.0}
    late = run(finished=T0 + 200)

    def stuck(faults: list[Fault], release: ReleaseRun = late) -> list[str]:
        return invariants.stuck(
            [release], faults, expected=expected, margin=60, per_fault=30, now=T0 + 300
        )

    assert stuck([]) == ["a-v2 (good): final after 200 s, allowed 160 s (0 faults during it)"]
    assert stuck([fault(Kind.RESTART_PROMETHEUS, 10, 20, 25)]) == []
    never = run(finished=None)
    assert stuck([], never) == [
        "a-v2 (good): not final after 300 s, allowed 160 s (0 faults during it)"
    ]
