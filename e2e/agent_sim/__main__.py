"""Run the simulator: watch pods, serve ``/metrics`` over TLS.

``python -m agent_sim --kubeconfig K --port P [--tls-cert C --tls-key K] [--seed S]``
(with PYTHONPATH=e2e; the local stack starts it this way). The seed also comes from
``AGENT_SIM_SEED``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from prometheus_client import start_http_server

from .behaviour import ANNOTATION, BehaviourError, parse_behaviour
from .simulator import AdvancingRegistry, AgentMetrics, ServingPod, Simulator

AGENT_LABEL = "agentrelease.dev/agent"
REVISION_LABEL = "rollouts-pod-template-hash"
WATCH_TIMEOUT_SECONDS = 300

log = logging.getLogger("agent_sim")


class PodReader:
    """Turns pod objects into :class:`ServingPod` (or None), warning once per bad annotation."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, str]] = set()

    def __call__(self, pod: Any) -> ServingPod | None:
        meta = pod.metadata
        text = (meta.annotations or {}).get(ANNOTATION)
        labels = meta.labels or {}
        if text is None or meta.deletion_timestamp is not None or not _is_ready(pod):
            return None
        try:
            behaviour = parse_behaviour(text)
        except BehaviourError as error:
            key = (f"{meta.namespace}/{meta.name}", text)
            if key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "pod %s/%s: bad %s annotation: %s", *key[0].split("/"), ANNOTATION, error
                )
            return None
        return ServingPod(labels[AGENT_LABEL], labels[REVISION_LABEL], behaviour)


def _is_ready(pod: Any) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or ())


def _key(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def follow_pods(api: client.CoreV1Api, simulator: Simulator) -> None:
    """List then watch pods that carry both labels, forever; re-list after any error.

    The label selector keeps the API server's work to the pods that can emit anything:
    a pod needs the agent label and a Rollout revision to be labelled.
    """
    read = PodReader()
    selector = f"{AGENT_LABEL},{REVISION_LABEL}"
    backoff = 1.0
    while True:
        try:
            listing = api.list_pod_for_all_namespaces(label_selector=selector)
            current = {_key(pod): read(pod) for pod in listing.items}
            simulator.replace_all({k: p for k, p in current.items() if p is not None})
            version = listing.metadata.resource_version if listing.metadata else None
            log.info("listed %d pods, %d serving", len(current), len(simulator.serving()))
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                api.list_pod_for_all_namespaces,
                label_selector=selector,
                resource_version=version,
                timeout_seconds=WATCH_TIMEOUT_SECONDS,
            )
            for event in stream:
                pod = event["object"]
                gone = event["type"] == "DELETED"
                simulator.set_pod(_key(pod), None if gone else read(pod))
                backoff = 1.0
        except ApiException as error:
            if error.status != 410:  # 410 Gone: our resourceVersion expired; just re-list
                log.warning(
                    "pod watch failed (%s %s); retrying in %.0fs",
                    error.status,
                    error.reason,
                    backoff,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        except Exception as error:
            log.warning("pod watch failed (%s); retrying in %.0fs", error, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="agent_sim", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, required=True, help="port for /metrics on --address")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("AGENT_SIM_SEED", "1")))
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    registry = AdvancingRegistry()
    simulator = Simulator(AgentMetrics(registry), random.Random(args.seed))
    registry.before_collect = simulator.advance
    start_http_server(
        args.port,
        addr=args.address,
        registry=registry,
        certfile=args.tls_cert,
        keyfile=args.tls_key,
    )
    log.info("serving /metrics on %s:%d (seed %d)", args.address, args.port, args.seed)
    config.load_kube_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    follow_pods(client.CoreV1Api(), simulator)


if __name__ == "__main__":
    main()
