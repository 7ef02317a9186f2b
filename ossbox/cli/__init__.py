"""The `ossbox` command line: ossutil 2's grammar, flags, configuration and exit codes, built on
the official alibabacloud-oss-v2 SDK (so it works against Alibaba Cloud OSS too), plus `server`."""
from __future__ import annotations

import argparse
import sys

from .output import EXIT_USAGE, exit_code_for, print_error
from .settings import UsageError, add_global_options, resolve


class _Parser(argparse.ArgumentParser):
    """Usage errors print `Error: ...` and exit 1, as ossutil does (argparse would exit 2)."""

    def error(self, message):
        raise UsageError(f"{message}\nRun '{self.prog} --help' for usage.")


def build_parser() -> argparse.ArgumentParser:
    from . import admin_cmd, api, commands, config_cmd, server_cmd

    parser = _Parser(prog="ossbox", description="OSS-compatible object storage: an ossutil-2-compatible "
                                                "client and an OSS server (ossbox server).")
    add_global_options(parser)
    parser.add_argument("--version", action="version", version=f"ossbox {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    server_cmd.register(sub)
    config_cmd.register(sub, add_global_options)
    api.register(sub, add_global_options)
    commands.register(sub, add_global_options)
    admin_cmd.register(sub, add_global_options)
    return parser


def _version() -> str:
    from .. import __version__
    return __version__


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if getattr(args, "needs_settings", True) is False:
            return args.func(args)
        settings = resolve(args)
        return args.func(args, settings)
    except BaseException as exc:  # every failure maps to ossutil's exit codes
        if isinstance(exc, SystemExit):
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
        try:
            return exit_code_for(exc)
        except BaseException:
            print_error(f"unexpected error: {exc!r}")
            raise
