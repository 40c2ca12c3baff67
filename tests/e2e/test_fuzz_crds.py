"""Fuzzing the CRD schemas on the real API server against the operator's models.

Generated EvalReports, ReleasePolicies and AgentReleases (the repository's manifests with
one value changed anywhere, a key removed or added) are sent to the API server as
`kubectl apply` sends them (server-side dry run, strict field validation), and parsed by
the pydantic models the operator and the CLI use. What the API server admits, as it
stores it, the operator must parse; what it refuses comes with a message. Objects the
models accept and the API server refuses are counted in the campaign's summary.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agent_release.api.evalreport import EvalReport
from agent_release.api.policy import ReleasePolicy
from agent_release.api.release import AgentRelease
from agent_release.manifests import ManifestError, parse
from builders import stack as builders
from demo import operator
from localstack.clients import Kubectl
from localstack.stack import StackInfo
from tests import fuzzing
from tests.test_fuzz_cli import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

MODELS: dict[str, Any] = {
    "EvalReport": EvalReport,
    "ReleasePolicy": ReleasePolicy,
    "AgentRelease": AgentRelease,
}
PLURALS = {"EvalReport": "evalreports", "ReleasePolicy": "releasepolicies"}
PLURALS["AgentRelease"] = "agentreleases"
CLIENT: list[httpx.Client] = []
NAMESPACE: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def api_server(stack: StackInfo, running_operator: operator.OperatorInfo) -> Iterator[None]:
    """An admin client of the API server (CRDs installed) and a namespace to create in."""
    config = yaml.safe_load(stack.kubeconfig.read_text())
    user = config["users"][0]["user"]
    tls = ssl.create_default_context(cafile=str(stack.ca_file))
    tls.load_cert_chain(user["client-certificate"], user["client-key"])
    kubectl = Kubectl(stack.kubectl, stack.kubeconfig)
    name = f"fuzz-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    CLIENT.append(httpx.Client(base_url=stack.api_server_url, verify=tls, timeout=30))
    NAMESPACE.append(name)
    yield
    CLIENT.pop().close()
    kubectl.run("delete", "namespace", NAMESPACE.pop(), "--wait=false")


def seeds() -> list[dict[str, Any]]:
    """The manifests, each under a name of its own.

    ReleasePolicies are cluster-scoped and the session's stack already holds the ones the
    other tests applied (`prod`, ...): a dry-run create of one of those names is answered
    409 AlreadyExists whatever its spec, which says nothing about the schema.
    """
    release = builders.release("fuzz-agent", "v1", "prod")
    found = [*manifests("ReleasePolicy"), *manifests("EvalReport"), release]
    return [
        {**seed, "metadata": {**seed.get("metadata", {}), "name": f"fuzz-seed-{n}"}}
        for n, seed in enumerate(found)
    ]


def _create(data: dict[str, Any]) -> httpx.Response:
    kind = data.get("kind")
    plural = PLURALS.get(kind if isinstance(kind, str) else "", "evalreports")
    where = "" if plural == "releasepolicies" else f"/namespaces/{NAMESPACE[0]}"
    path = f"/apis/agentrelease.dev/v1alpha1{where}/{plural}"
    body = fuzzing.dumps(data).encode("utf-8", "surrogatepass")
    return CLIENT[0].post(
        path,
        content=body,
        params={"dryRun": "All", "fieldValidation": "Strict"},
        headers={"Content-Type": "application/json"},
    )


def _parses(data: Any, kind: str) -> bool:
    try:
        parse(data, MODELS[kind], "fuzz")
    except ManifestError:
        return False
    return True


@fuzzing.sized(short=60, campaign=2000)
@given(seed=st.sampled_from(seeds()), change=st.data())
def test_what_the_api_server_admits_the_operator_parses(
    seed: dict[str, Any], change: st.DataObject
) -> None:
    kind = seed["kind"]
    data = json.loads(json.dumps(seed))
    apply, what, _ = change.draw(fuzzing.mutation(data))
    data = apply(data)
    with fuzzing.tally(f"crd: {kind}"):
        try:
            answer = _create(data)
        except UnicodeEncodeError:
            return
    if answer.status_code == 201:
        stored = answer.json()
        assert _parses(stored, kind), f"admitted, then unparseable: {what}"
        return
    assert answer.status_code in (400, 422), answer.text
    assert answer.json().get("message"), answer.text
    if isinstance(data, dict) and _parses(data, kind):
        with fuzzing.tally(f"crd: {kind} refused by the API server, accepted by the models"):
            pass
