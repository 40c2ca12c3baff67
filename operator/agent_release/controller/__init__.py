"""The operator: kopf handlers over a pure release state machine.

`machine` decides (no I/O), `reconcile` reads the world and applies decisions,
`analysis` runs the batched Prometheus analysis of all canaries, `handlers` wires
kopf events to them, `rollouts` knows the shape of Argo Rollouts.
"""
