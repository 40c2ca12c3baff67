"""Builders of the project's objects for tests and benchmarks: state only what you vary.

One place for every constructor a test or a benchmark needs, so neither imports the
other (benchmarks never import `tests`):

- `objects`: API objects (EvalReport specs, ReleasePolicy, AgentRelease) as the
  operator and the CLI read them;
- `worlds`: what the state machine is told (a Rollout as observed, a World, a look);
- `wire`: what the API server and Prometheus answer, for tests of the I/O shell on
  `httpx.MockTransport`;
- `stack`: the manifests of the end-to-end tests and the operator benchmark, for the
  local stack's simulated agents;
- `fixtures`: where the real benchmark outputs are.
"""
