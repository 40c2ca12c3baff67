"""`PYTHONPATH=e2e python -m chaos [--short] [--seed N] [--faults N]`: one chaos campaign.

Starts the local stack if it is not running ($AGENT_RELEASE_STACK_DIR), runs the
campaign with two operator replicas and prints the faults by kind, the releases by
outcome and each invariant's violations. Exit status 0 when every invariant held, 1
when one broke. The stack and the replicas are left running (`make down` stops them).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys

from localstack.stack import Stack

from . import campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the e2e suite's short run")
    parser.add_argument("--seed", type=int, help="the RNG seed (default: drawn, and printed)")
    parser.add_argument("--faults", type=int, help="how many faults (default 60; --short: 5)")
    parser.add_argument("--lanes", type=int, help="agents released at once (default 4)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    settings = campaign.short(seed) if args.short else campaign.full(seed)
    if args.faults is not None:
        settings = dataclasses.replace(settings, faults=args.faults)
    if args.lanes is not None and settings.plans is None:
        settings = dataclasses.replace(settings, lanes=args.lanes)
    stack = Stack()
    info = stack.up()
    report = campaign.run(stack, info, settings)
    for line in report.lines():
        print(line, flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
