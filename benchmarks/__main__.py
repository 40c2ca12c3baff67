"""Run every benchmark and print one line each: `make bench`."""

from __future__ import annotations

import sys
import tempfile
from itertools import chain
from pathlib import Path

from . import gate_bench, import_bench

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    print(f"python {sys.version.split()[0]}; medians of repeated runs in-process")
    with tempfile.TemporaryDirectory() as tmp:
        timings = chain(
            gate_bench.run(Path(tmp), REPO / "policies" / "prod.yaml"), import_bench.run()
        )
        for timing in timings:
            print(timing.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
