"""Entry point of `agent-release` / `kubectl agentrelease`.

Exit codes are a contract with CI pipelines (SPEC §8): 0 Pass, 1 Fail,
2 Inconclusive, 64 usage error, 65 invalid input (one line on stderr naming file
and field), 69 cluster unavailable, 70 internal error. No traceback reaches the
user: an unexpected exception is reported in one line as an internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..files import FileError
from ..importers import ImportInputError
from . import canarycmd, clustercmd, gatecmd, importcmd
from .errors import EX_DATAERR, EX_SOFTWARE, EX_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="agent-release",
        description="Release gates and guarded canaries for AI agents.",
    )
    parser.add_argument("--version", action="version", version=f"agent-release {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gatecmd.register(commands)
    importcmd.register(commands)
    clustercmd.register(commands)
    canarycmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int = args.run(args)
        return code
    except UsageError as error:
        print(error, file=sys.stderr)
        return EX_USAGE
    except ImportInputError as error:  # names the flag to fix
        print(f"agent-release: {error}", file=sys.stderr)
        return EX_USAGE
    except FileError as error:  # a manifest, per-task results or benchmark output
        print(f"agent-release: {error}", file=sys.stderr)
        return EX_DATAERR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `agent-release plan ... | head`: the reader has what it wanted
        return 0
    except Exception as error:  # the contract: one line, never a traceback
        print(f"agent-release: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EX_SOFTWARE
