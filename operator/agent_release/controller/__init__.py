"""The operator: kopf handlers over a pure release state machine (docs/architecture.md).

Decisions, pure: `machine` decides from `facts` and returns a `plan`; `rollouts` knows
the shape of Argo Rollouts; `registry` keeps what looks need. The shell: `reconcile`
runs one release through `observe` (what is the world), `writes` (its status),
`effects` (the Rollout) and `telling` (Events, logs, metrics); `analysis` looks at all
canaries in one batch; `validation` writes EvalReport and ReleasePolicy status;
`handlers` wires kopf to them; `runtime` is what the process holds.
"""
