"""Run every benchmark and print what it measured: `make bench`.

`--no-stack` skips the operator benchmark and the peer benchmark, which need the local
stack (started if it is not running). The operator benchmark takes from several minutes
to an hour (`--scales 1,10,50` for a short run; `--only-stack` runs it alone); the peer
benchmark (the operator beside Argo Rollouts' own analysis, `--peer-scales 1,10,50`, the
default) about a quarter of an hour, `--only-peer` runs it alone. `--quick` runs the
decision-quality benchmark in its quick mode (about a minute and a half instead of ten to
twenty).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from itertools import chain
from pathlib import Path

from . import decision_bench, gate_bench, import_bench

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks", description=__doc__)
    parser.add_argument("--no-stack", action="store_true", help="skip the operator benchmark")
    parser.add_argument("--quick", action="store_true", help="the quick decision benchmark")
    parser.add_argument(
        "--scales",
        default=None,
        help="the operator benchmark's numbers of canaries, comma-separated (1,10,50,200,500)",
    )
    parser.add_argument("--only-stack", action="store_true", help="only the operator benchmark")
    parser.add_argument(
        "--peer-scales",
        default=None,
        help="the peer benchmark's numbers of canaries a side, comma-separated (1,10,50)",
    )
    parser.add_argument(
        "--peer-rps",
        type=float,
        default=None,
        help="tasks/s each simulated pod serves in the peer benchmark (20)",
    )
    parser.add_argument("--only-peer", action="store_true", help="only the peer benchmark")
    args = parser.parse_args()
    if args.only_peer:
        return _peer(args.peer_scales, args.peer_rps)
    print(f"python {sys.version.split()[0]}; medians of repeated runs in-process")
    if not args.only_stack:
        with tempfile.TemporaryDirectory() as tmp:
            timings = chain(
                gate_bench.run(Path(tmp), REPO / "policies" / "prod.yaml"), import_bench.run()
            )
            for timing in timings:
                print(timing.line(), flush=True)
        for line in decision_bench.run(quick=args.quick):
            print(line, flush=True)
    if not args.no_stack:
        from . import canary_bench  # noqa: PLC0415 - needs the e2e packages on the path

        scales = [int(n) for n in args.scales.split(",")] if args.scales else canary_bench.SCALES
        for line in canary_bench.run(scales):
            print(line, flush=True)
        if not args.only_stack:
            _peer(args.peer_scales, args.peer_rps)
    return 0


def _peer(scales: str | None, rate: float | None) -> int:
    from . import peer_bench  # noqa: PLC0415 - needs the e2e packages on the path

    sizes = [int(n) for n in scales.split(",")] if scales else peer_bench.SCALES
    for line in peer_bench.run(sizes, rate or peer_bench.RATE):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
