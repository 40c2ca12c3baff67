"""Canary analysis: guardrails of canary versus stable, pure and Kubernetes-free.

`queries` builds the batched PromQL, `windows` turns query results into per-release
counts over a bake window, `guardrails` judges them, `sequential` says how much
evidence each look needs so that looking often does not roll back good releases.
"""
