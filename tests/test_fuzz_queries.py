"""Fuzzing what reaches a PromQL query: names from the cluster, templates from policies.

A query is built from two things a person controls: the agent name and revisions of the
releases under analysis (label values from AgentReleases and Rollouts), and a policy's
PromQL templates. Hostile names (quotes, braces, `|`, regex syntax, newlines, unicode,
very long) must be refused before any query is built; a template must either be refused
or render to PromQL that Prometheus' own parser accepts (promtool) and whose series
selectors all carry exactly the operator's matchers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from agent_release.api.policy import Guardrail, GuardrailMetric, GuardrailQuery, template_problem
from agent_release.api.types import AGENT_PATTERN
from agent_release.canary.queries import guardrail_query, selector
from tests import fuzzing

pytestmark = pytest.mark.fuzz

TRICKS = ['"', "'", "`", "}", "{", ",", "|", ".*", "=~", "\\", "\n", "$", "#", " ", "é", "\u202e"]
names = st.one_of(
    st.from_regex(AGENT_PATTERN, fullmatch=True).map(lambda s: s[:63]),
    st.tuples(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), st.sampled_from(TRICKS)).map(
        "".join
    ),
    st.text(max_size=70),
    st.just("a" * 5000),
)


@fuzzing.sized(short=150, campaign=3000)
@given(pairs=st.lists(st.tuples(names, names), min_size=1, max_size=4))
@example(pairs=[("support-agent\n", "7d9f")])  # `$` matches before a final newline
@example(pairs=[("support-agent", "7d9f\n")])
@example(pairs=[('a",revision=~".*', "7d9f")])
def test_hostile_names_never_reach_a_query(pairs: list[tuple[str, str]]) -> None:
    with fuzzing.tally("promql: agent and revision names"):
        try:
            matchers = selector(pairs)
        except ValueError:
            return  # refused before any query is built
    agents = sorted({a for a, _ in pairs})
    revisions = sorted({r for _, r in pairs})
    assert all(re.fullmatch(AGENT_PATTERN, a) for a in agents), agents
    assert all(re.fullmatch(r"[a-z0-9]{1,40}", r) for r in revisions), revisions
    assert matchers == f'agent=~"{"|".join(agents)}",revision=~"{"|".join(revisions)}"'


FRAGMENTS = [
    "sum by (agent, revision) (",
    "sum(",
    "increase(",
    "rate(",
    "agent_tasks_total",
    "x",
    "{",
    "}",
    "$selector",
    "${selector}",
    "$interval",
    "[",
    "]",
    "(",
    ")",
    ",",
    '"',
    '"$selector"',
    'outcome="success"',
    'agent="other"',
    'revision=~".*"',
    "#",
    "$$",
    " or vector(1)",
    " or ",
    " offset 5m",
    " / on (agent, revision) ",
    "\n",
    "é",
    "`",
    "5m",
]
templates = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14).map("".join),
    st.text(max_size=40),
    st.sampled_from(FRAGMENTS).map(
        lambda f: "sum by (agent, revision) (increase(a{$selector}[$interval]))" + f
    ),
)
OURS = 'agent=~"a-1|b",revision=~"7d9f|c0ffee"'


def _selectors(query: str) -> list[str]:
    """The `{...}` matcher lists of a rendered query (braces inside strings skipped)."""
    found, current, quote, escaped = [], None, "", False
    for char in query:
        if quote:
            escaped = not escaped and char == "\\" and quote != "`"
            if char == quote and not escaped:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "{":
            current = ""
            continue
        elif char == "}" and current is not None:
            found.append(current)
            current = None
        if current is not None:
            current += char
    return found


@fuzzing.sized(short=30, campaign=300)
@given(batch=st.lists(templates, min_size=10, max_size=10))
def test_fuzzed_templates_are_refused_or_select_only_what_the_operator_asks(
    batch: list[str],
) -> None:
    """Ten templates per example, so that promtool parses the accepted ones in one run."""
    rendered = []
    for text in batch:
        with fuzzing.tally("promql: policy templates"):
            if template_problem(text) is not None:
                continue
            guardrail = Guardrail(
                metric=GuardrailMetric.TASK_SUCCESS_RATE,
                min_delta=-0.02,
                query=GuardrailQuery(numerator=text),
            )
            query = guardrail_query(guardrail, OURS, 60)
            for matchers in _selectors(query):
                assert OURS in matchers, (text, query)
                rest = matchers.replace(OURS, "")
                assert "agent" not in re.sub(r'"[^"]*"', "", rest), (text, query)
            rendered.append(query)
    # Prometheus' own parser on what was accepted: a template that is not PromQL passes
    # validation (the operator does not parse PromQL) and fails at its first query with
    # Prometheus' message in MetricsUnavailable; counted here, not an injection.
    promtool = shutil.which("promtool")
    if not rendered or promtool is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules.yaml"
        group = [{"record": f"fuzz:q{i}", "expr": q} for i, q in enumerate(rendered)]
        rules.write_text(yaml.safe_dump({"groups": [{"name": "fuzz", "rules": group}]}))
        checked = subprocess.run(
            [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
        )
    failed = set(
        re.findall(r'"(fuzz:q\d+)": could not parse expression', checked.stdout + checked.stderr)
    )
    assert checked.returncode == 0 or failed, checked.stdout + checked.stderr
    for _ in failed:
        with fuzzing.tally("promql: accepted, then refused by Prometheus' parser"):
            pass


def test_interval_is_a_range_or_an_offset_and_nothing_else() -> None:
    """The default queries' form (raw counter differences) is a template users may write."""
    ok = "sum by (agent, revision) (x{$selector} - x{$selector} offset $interval)"
    assert template_problem(ok) is None
    assert template_problem("sum by (agent, revision) (rate(x{$selector}[$interval]))") is None
    refused = template_problem("sum by (agent, revision) (x{$selector}) * $interval")
    assert refused == "$interval must be a [range] or an offset"
