"""`python -m demo up|demo|run|down` (PYTHONPATH=e2e): see the package docstring."""

from __future__ import annotations

import argparse
import sys

from localstack.clients import Kubectl
from localstack.stack import Stack, StackError

from . import operator, scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("command", choices=["up", "demo", "run", "down"])
    args = parser.parse_args(argv)
    stack = Stack()
    if args.command == "down":
        stopped = operator.stop(stack.layout.root)
        print(f"demo: operator {'stopped' if stopped else 'was not running'}")
        stack.down()
        print("demo: local stack stopped (builds and logs kept)")
        return 0
    try:
        info = stack.up()
    except StackError as error:
        print(f"demo: the local stack did not come up:\n{error}", file=sys.stderr)
        return 1
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    running = operator.start(info, kubectl)
    print(f"demo: operator running (pid {running.pid}), log {running.log}")
    if args.command == "up":
        print(f"demo: `source {info.stack_dir / 'env'}` to use kubectl and agent-release")
        return 0
    try:
        releases = scenario.run(kubectl)
    except (RuntimeError, TimeoutError) as error:
        print(f"demo: {error}\noperator log: {running.log}", file=sys.stderr)
        return 1
    print("\n" + scenario.summary(releases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
