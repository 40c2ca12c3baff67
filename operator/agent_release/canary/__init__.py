"""Canary analysis: pure, Kubernetes-free, and the only code that decides a canary.

The public surface, for the operator, `agent-release replay`, the benchmarks and tools
outside the project:

    from agent_release.canary import Analyzer, Counts
    analyzer = Analyzer(policy)                   # a ReleasePolicy, its spec, or a mapping
    decision = analyzer.look(at, canary, stable)  # `at`: seconds since the canary began
    decision.verdict, decision.step, decision.weight, decision.reason, decision.metric

Inside: `counts` (one interval of one revision), `evidence` (a guardrail's running
sums, stratified by interval), `sequential` (the tests whose looks are free),
`analyzer` (steps, bakes and verdicts), `forecast` (how long a healthy canary still
needs), `queries` (the batched PromQL and its answers), `histogram` (quantiles).
"""

from .analyzer import Analyzer, AnalyzerState, Decision, Verdict
from .counts import Counts

__all__ = ["Analyzer", "AnalyzerState", "Counts", "Decision", "Verdict"]
