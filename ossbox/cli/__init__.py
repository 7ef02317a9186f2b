"""The `ossbox` command line: ossutil 2's grammar, flags, configuration and exit codes, built on
the official alibabacloud-oss-v2 SDK (so it works against Alibaba Cloud OSS too), plus `server`."""
from __future__ import annotations

import argparse
import re
import sys

from .output import EXIT_USAGE, exit_code_for, print_error
from .settings import UsageError, add_global_options, resolve


_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


class _Parser(argparse.ArgumentParser):
    """Usage errors print `Error: ...` and exit 1, as ossutil does (argparse would exit 2); they
    name the command's own --help and any flag the command does not know."""

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:
            # a command without subcommands owns the rest of the line: report what it did not
            # take here, so the message names this command's --help rather than `ossbox --help`
            self.error("unrecognized arguments: " + " ".join(extras))
        return namespace, extras

    def error(self, message):
        # argparse checks required options before unknown ones: `--postion 3` would otherwise
        # be reported as "--position is required"
        unknown = self._unknown_flags(getattr(self, "_given", ()))
        if unknown:
            message = "; ".join(self._unknown_text(flag) for flag in unknown)
        raise UsageError(f"{message}\nRun '{self.prog} --help' for usage.")

    def _unknown_flags(self, given) -> list:
        known = self._option_string_actions
        commands = set()
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                commands.update(action.choices)
        unknown = []
        for arg in given:
            if arg == "--" or arg in commands:  # the rest belongs to positionals or a subcommand
                break
            if not arg.startswith("-") or arg == "-" or _NUMBER.match(arg) or arg in known:
                continue
            flag = arg.split("=", 1)[0]
            if flag in known:
                continue
            if flag.startswith("--"):
                if self.allow_abbrev and any(o.startswith(flag) for o in known if o.startswith("--")):
                    continue  # an unambiguous prefix argparse accepts (or reports itself)
            elif arg[:2] in known:
                continue      # -n5, -qf: a short flag with its value or more short flags
            unknown.append(flag)
        return unknown

    def _unknown_text(self, flag: str) -> str:
        import difflib
        names = [o for o in self._option_string_actions if o.startswith("--")]
        close = difflib.get_close_matches(flag, names, n=1, cutoff=0.8)
        return f"unknown flag {flag}" + (f" (did you mean {close[0]}?)" if close else "")


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
