"""The chaos campaign (`make chaos`; a short run in `tests/e2e/test_chaos.py`).

Many releases of several agents, good and bad, on the local stack with two operator
replicas, while faults are injected at random moments (seeded): the leader SIGKILLed or
SIGSTOPped past its lease, Prometheus, the kube-apiserver and the Argo Rollouts
controller restarted. Invariants are checked from Argo's record (watches of every
Rollout and of the Lease) and the replicas' effect logs, not from the operator's word
(`invariants.py`). `docs/operator.md`, "Chaos campaign", has what it found.
"""
