"""The API client's pure parts: what goes on the wire."""

from __future__ import annotations

from agent_release.adapters.kube import AGENTRELEASES, RELEASEPOLICIES, field_selector


def test_field_selector_escapes_its_metacharacters() -> None:
    selector = field_selector({"spec.agent": "support", "spec.candidate.model": r"a=b,c\d"})
    assert selector == r"spec.agent=support,spec.candidate.model=a\=b\,c\\d"


def test_paths() -> None:
    assert AGENTRELEASES.path("ns", "r1", "status") == (
        "/apis/agentrelease.dev/v1alpha1/namespaces/ns/agentreleases/r1/status"
    )
    assert RELEASEPOLICIES.path("ignored", "prod") == (
        "/apis/agentrelease.dev/v1alpha1/releasepolicies/prod"
    )
