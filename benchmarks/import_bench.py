"""Import speed, as `agent-release import` does it: read the files, build the report.

* the 166 KB Terminal-Bench run file (80 trials);
* a 1,000-sample inspect_ai `.eval` log with messages, written by inspect_ai itself
  (`inspect_ai.eval` with a scripted model registered through `@modelapi`; each
  sample calls a tool three times, and every other sample is answered wrong, so
  the importer also opens those samples' own members to look at their last tool
  result). Writing the log takes a few seconds and is not timed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.scorer import match
from inspect_ai.solver import generate, use_tools
from inspect_ai.tool import Tool, ToolChoice, ToolInfo, tool

from agent_release.api.types import Capability
from agent_release.importers import ReportFlags, build_report, read_run
from builders.fixtures import benchmarks_dir
from builders.inspect_offline import OfflineModel

from .timing import Timing, measure

RUN = "terminal-bench/20250811_cursor-cli_claude-4-sonnet/run1_2025-08-10__05-27-18/results.json"
FLAGS = ReportFlags(
    agent="terminal-agent",
    model="claude-4-sonnet",
    runtime="1.0",
    dataset_version="0.1.1",
    harness_version="0.2.0",
)
INSPECT_SAMPLES = 1000
TOOL_CALLS = 3


@tool
def search() -> Tool:
    async def execute(query: str) -> str:
        """Search the knowledge base.

        Args:
            query: what to look for
        """
        return f"three results for {query}: " + "lorem ipsum dolor sit amet " * 8

    return execute


@modelapi(name="bench")
class BenchModel(OfflineModel):
    """Calls the tool TOOL_CALLS times, then answers: right for even samples, wrong else."""

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],  # noqa: ARG002 - inspect passes them by keyword
        tool_choice: ToolChoice,  # noqa: ARG002
        config: GenerateConfig,  # noqa: ARG002
    ) -> ModelOutput:
        calls = sum(message.role == "tool" for message in input)
        question = next(m for m in input if m.role == "user").text
        if calls < TOOL_CALLS:
            output = ModelOutput.for_tool_call(self.model_name, "search", {"query": question})
        else:
            number = int(question.split()[-1])
            output = ModelOutput.from_content(self.model_name, "yes" if number % 2 else "no")
        output.usage = ModelUsage(input_tokens=40 * len(input), output_tokens=12, total_tokens=0)
        return output


def inspect_log(folder: Path) -> Path:
    """A 1,000-sample `.eval` log with messages, written by inspect_ai."""
    task = Task(
        dataset=[
            Sample(input=f"is this question odd? {n}", target="yes", id=n)
            for n in range(INSPECT_SAMPLES)
        ],
        solver=[use_tools(search()), generate()],
        scorer=match(),
        name="bench",
    )
    [log] = inspect_eval(
        task, model="bench/model", log_dir=str(folder), display="none", max_samples=100
    )
    return Path(log.location)


def run() -> Iterator[Timing]:
    path = benchmarks_dir() / RUN

    def read_and_build() -> None:
        build_report([read_run("terminal-bench", path)], FLAGS)

    yield measure(
        f"import: terminal-bench results.json ({path.stat().st_size // 1024} KB)",
        read_and_build,
        runs=200,
        target_ms=50,
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = inspect_log(Path(tmp))
        flags = ReportFlags(agent="bench-agent", runtime="1.0", capability=Capability.BUSINESS)

        def read_inspect() -> None:
            build_report([read_run("inspect", log)], flags)

        size = log.stat().st_size // 1024
        yield measure(
            f"import: inspect .eval, {INSPECT_SAMPLES} samples with messages ({size} KB)",
            read_inspect,
            runs=20,
            target_ms=1000,
        )
