"""Command line: ``python -m localstack build|up|down|status|logs`` (with PYTHONPATH=e2e).

Exit status: 0 on success, 1 when the stack could not be brought to the requested state
(the message names the component and shows the tail of its log), 3 from ``status`` when
some component is not healthy, 2 for usage errors (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys

from .builds import BuildError, build_all
from .stack import Stack, StackError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the Go components that are not built yet")
    up = commands.add_parser("up", help="start the stack, or check that it is up")
    up.add_argument(
        "--seed", type=int, help="simulator RNG seed (default $AGENT_RELEASE_SIM_SEED or 1)"
    )
    commands.add_parser("down", help="stop every process of the stack and remove its state")
    commands.add_parser("status", help="per-component state")
    logs = commands.add_parser("logs", help="tail the components' logs")
    logs.add_argument("components", nargs="*", help="component names (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=20, help="lines per log (default 20)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following")
    return parser


def _status(stack: Stack) -> int:
    statuses = stack.status()
    if statuses is None:
        print(f"no stack in {stack.layout.root} (run `make stack-up`)")
        return 3
    print(f"{'COMPONENT':<24}{'PID':>8}  {'RSS':>7}  {'STATE':<9} ENDPOINT / DETAIL")
    for s in statuses:
        state = "healthy" if s.healthy else ("running" if s.running else "down")
        rss = f"{s.rss_bytes / 2**20:.0f}Mi" if s.rss_bytes else "-"
        detail = s.endpoint if s.healthy else s.detail
        print(f"{s.name:<24}{s.pid or '-':>8}  {rss:>7}  {state:<9} {detail}")
    total = sum(s.rss_bytes for s in statuses) / 2**20
    print(f"{'total RSS':<24}{'':>8}  {total:>5.0f}Mi")
    return 0 if all(s.healthy for s in statuses) else 3


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stack = Stack()
    try:
        if args.command == "build":
            build_all(stack.cache)
        elif args.command == "up":
            info = stack.up(seed=args.seed)
            print(f"localstack: stack is up; `source {stack.layout.env_file}` for:")
            for key, value in info.env().items():
                print(f"  {key}={value}")
        elif args.command == "down":
            stopped = stack.down()
            print(f"localstack: stopped {len(stopped)} processes; logs kept in {stack.layout.logs}")
        elif args.command == "status":
            return _status(stack)
        elif args.command == "logs":
            files = [str(path) for path in stack.log_files(args.components)]
            if not files:
                print(f"no logs in {stack.layout.logs}")
                return 0
            follow = ["-F"] if args.follow else []
            os.execvp("tail", ["tail", "-n", str(args.lines), *follow, *files])
    except (StackError, BuildError) as error:
        print(f"localstack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
