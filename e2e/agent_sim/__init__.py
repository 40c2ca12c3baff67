"""Agent traffic simulator: stands in for real agent pods, which kwok does not run.

It watches pods in all namespaces. Every Ready pod that has the labels
``agentrelease.dev/agent`` and ``rollouts-pod-template-hash`` and the annotation
``e2e.agentrelease.dev/behaviour`` (see :mod:`agent_sim.behaviour` for the JSON and
:mod:`agent_sim.presets` for ready-made values) serves simulated tasks, and the metrics of
SPEC §6 are exported on ``/metrics`` labelled ``agent`` and ``revision`` (the pod-template
hash). :mod:`agent_sim.simulator` describes the noise model.
"""
