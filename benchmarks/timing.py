"""A tiny timing harness: warm up, repeat, report median and p95 in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def rank_quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile of sorted values, by nearest rank (no interpolation: a value seen)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Timing:
    name: str
    runs: int
    median_ms: float
    p95_ms: float
    target_ms: float | None

    def line(self) -> str:
        target = f"  target ≤ {self.target_ms:g} ms" if self.target_ms is not None else ""
        verdict = ""
        if self.target_ms is not None:
            verdict = "  ok" if self.median_ms <= self.target_ms else "  OVER TARGET"
        return (
            f"{self.name:<58} median {self.median_ms:8.2f} ms  p95 {self.p95_ms:8.2f} ms"
            f"  (n={self.runs}){target}{verdict}"
        )


def measure(
    name: str, func: Callable[[], object], runs: int = 30, target_ms: float | None = None
) -> Timing:
    for _ in range(3):
        func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return Timing(name, runs, statistics.median(samples), rank_quantile(samples, 0.95), target_ms)
