"""`ossbox config`: write profiles of the ossutil config file, as ossutil 2's `config` does.

* `ossbox config` asks, like ossutil 2, for the config file path (default: -c / OSSUTIL_CONFIG_FILE /
  ~/.ossutilconfig; not asked when -c is given), the AccessKey ID, the AccessKey secret, the region
  (default cn-hangzhou) and an optional endpoint, then writes the `[default]` profile (or
  `[profile NAME]` with --profile / OSSUTIL_PROFILE). Pressing Enter keeps the value shown in [ ].
* With value flags it does not ask: `ossbox config -i ID -k SECRET --region R [-e E] [-t TOKEN]
  [--mode M] [--profile P] [-c FILE]`. Values missing from both the flags and the existing profile
  are asked for when stdin is a terminal; otherwise that is a usage error (exit 1). Interactive
  mode needs a terminal: answers piped into a non-terminal stdin are never read, so a script cannot
  hang on a prompt. OSS_* environment variables are never written to the file.
* `ossbox config set KEY VALUE` sets one key of the profile (an empty VALUE removes it),
  `ossbox config get [KEY]` prints one key (following source-profile; exit 1 when unset) or the
  whole profile (secrets masked), `ossbox config list-profiles` prints the profile names.

The file is edited line by line: other sections, comments, key spellings and order are kept; it is
written atomically with mode 0600.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Optional

from .output import EXIT_OK, EXIT_USAGE, print_error
from .settings import (DEFAULT_REGION_HINT, SUPPORTED_MODES, UsageError, config_location, norm_key,
                       normalize_mode, profile_values, read_profiles)

# every key ossutil 2 documents for a profile (by normalised name) -> the spelling ossbox writes
KNOWN_KEYS = {norm_key(k): k for k in (
    "mode", "access-key-id", "access-key-secret", "sts-token", "role-arn", "role-session-name",
    "ecs-role-name", "credential-process", "credential-uri", "oidc-provider-arn", "oidc-token-file-path",
    "credential-process-timeout", "region", "endpoint", "loglevel", "read-timeout", "connect-timeout",
    "retry-times", "skip-verify-cert", "sign-version", "output-format", "addressing-style", "language",
    "source-profile", "buckets", "endpoint-suffix-list-path-style", "job", "parallel",
    "bigfile-threshold", "part-size", "write-buffer-size", "proxy", "cloudbox-id", "account-id",
    "user-agent")}
KNOWN_KEYS["securitytoken"] = "sts-token"
_SECRET_KEYS = {"accesskeysecret", "ststoken", "securitytoken"}
_CHOICES = {
    "signversion": ("v1", "v4"),
    "addressingstyle": ("virtual", "path", "cname"),
    "outputformat": ("raw", "json", "yaml", "xml"),
    "loglevel": ("off", "info", "debug"),
    "skipverifycert": ("true", "false"),
}
_INTS = ("retrytimes", "readtimeout", "connecttimeout", "credentialprocesstimeout", "job", "parallel")

CONFIG_FILE_PROMPT = (
    "Please enter the config file name,the file name can include path(default {default}, carriage "
    "return will use the default file. If you specified this option to other file, you should "
    "specify --config-file option to the file when you use other commands):")


# -- registration --------------------------------------------------------------------------------
def register(sub, add_globals) -> None:
    p = sub.add_parser(
        "config", help="create or change a profile of the config file (interactive without flags)",
        description="Write a profile of the ossutil config file. Without value flags it asks for the "
                    "file, AccessKey ID, AccessKey secret, region and endpoint (stdin must be a "
                    "terminal); with -i/-k/--region/-e/-t/--mode it writes them without asking.")
    add_globals(p)
    p.set_defaults(func=run_config, needs_settings=False)
    csub = p.add_subparsers(dest="config_command", metavar="<subcommand>")

    s = csub.add_parser("set", help="set one key of a profile (empty VALUE removes it)",
                        description="Set KEY to VALUE in the profile (--profile, default 'default'); "
                                    "an empty VALUE removes the key.")
    s.add_argument("key", metavar="KEY")
    s.add_argument("value", metavar="VALUE")
    add_globals(s)
    s.set_defaults(func=run_set, needs_settings=False)

    g = csub.add_parser("get", help="print one key of a profile, or the whole profile",
                        description="Print KEY of the profile (following source-profile); exit 1 when "
                                    "it is not set. Without KEY, print every key (secrets masked).")
    g.add_argument("key", metavar="KEY", nargs="?")
    add_globals(g)
    g.set_defaults(func=run_get, needs_settings=False)

    lp = csub.add_parser("list-profiles", help="print the profile names of the config file",
                         description="Print the profile names of the config file, one per line.")
    add_globals(lp)
    lp.set_defaults(func=run_list_profiles, needs_settings=False)


# -- a line-based INI editor that keeps everything it does not change -----------------------------
_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*(?:[#;].*)?$")
_KEY = re.compile(r"^(\s*)([^\s=:#;\[][^=:]*?)\s*[=:]")


def _section_profile(name: str) -> Optional[str]:
    """The profile a section header names ('default' or NAME), None for any other section
    (including the 1.x [Credentials] section, which is read but never written)."""
    low = " ".join(name.split()).lower()
    if low == "default":
        return "default"
    if low.startswith("profile "):
        return low[len("profile "):].strip() or None
    return None


class IniFile:
    def __init__(self, text: str):
        self.lines = text.splitlines()

    def _sections(self):
        """[(profile or None, header index, end index)] in file order."""
        heads = [(i, m.group(1)) for i, line in enumerate(self.lines) if (m := _SECTION.match(line))]
        out = []
        for n, (i, name) in enumerate(heads):
            end = heads[n + 1][0] if n + 1 < len(heads) else len(self.lines)
            out.append((_section_profile(name), i, end))
        return out

    def _key_lines(self, start: int, end: int, nkey: str) -> list[int]:
        found = []
        for i in range(start + 1, end):
            line = self.lines[i]
            if line.lstrip().startswith(("#", ";")):
                continue
            m = _KEY.match(line)
            if m and norm_key(m.group(2)) == nkey:
                found.append(i)
        return found

    def set(self, profile: str, key: str, value: Optional[str]) -> None:
        """Set (or with None remove) `key` in the profile's sections, adding the section if needed.
        Existing lines keep their key spelling; a new key is written as `key`."""
        nkey, wanted = norm_key(key), " ".join(profile.split()).lower()
        sections = [(i, end) for p, i, end in self._sections() if p == wanted]
        hits = [(i, end, self._key_lines(i, end, nkey)) for i, end in sections]
        if value is None:
            doomed = sorted((n for _, _, lines in hits for n in lines), reverse=True)
            for n in doomed:
                del self.lines[n]
            return
        if any(lines for _, _, lines in hits):
            doomed = []
            for _, _, lines in hits:
                for n in lines:
                    m = _KEY.match(self.lines[n])
                    self.lines[n] = f"{m.group(1)}{m.group(2)} = {value}"
                doomed.extend(lines[1:])   # a repeated key in one section: keep the first only
            for n in sorted(doomed, reverse=True):
                del self.lines[n]
            return
        if sections:
            start, end = sections[-1]
            at = end
            while at > start + 1 and self.lines[at - 1].strip() == "":
                at -= 1
            self.lines.insert(at, f"{key} = {value}")
            return
        while self.lines and self.lines[-1].strip() == "":
            self.lines.pop()
        if self.lines:
            self.lines.append("")
        self.lines.append("[default]" if wanted == "default" else f"[profile {profile.strip()}]")
        self.lines.append(f"{key} = {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}")


def write_file(path: str, text: str) -> None:
    """Write atomically (temporary file + rename in the same directory), mode 0600. A symbolic
    link is followed, so the file it points to is updated."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ossutilconfig.", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write config file {path}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, real)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write config file {path}: {exc.strerror or exc}")


def update_profile(path: str, profile: str, changes: dict) -> None:
    """Apply {key: value or None} to a profile of the file at `path` and write it back."""
    ini = IniFile(_read_text(path))
    for key, value in changes.items():
        ini.set(profile, key, value)
    write_file(path, ini.text())


# -- values --------------------------------------------------------------------------------------
def canonical_key(key: str) -> str:
    spelled = KNOWN_KEYS.get(norm_key(key))
    if spelled is None:
        raise UsageError(f"unknown config key '{key}'. Known keys: {', '.join(sorted(set(KNOWN_KEYS.values())))}")
    return spelled


def check_value(key: str, value: str) -> str:
    """Validate a value for a known key; returns the value to write (mode names normalised)."""
    nkey = norm_key(key)
    if "\n" in value or "\r" in value:
        raise UsageError(f"the value of {key} cannot span lines")
    if nkey == "mode":
        mode = normalize_mode(value)
        if mode.lower() not in {m.lower() for m in ("AK", "StsToken", "EcsRamRole", "Ali-EcsRamRole",
                                                    "RamRoleArn", "oidcRoleArn", "Process",
                                                    "CredentialsURI", "Anonymous")}:
            raise UsageError(f"invalid mode '{value}' (ossbox supports {', '.join(SUPPORTED_MODES)})")
        return mode
    if nkey in _CHOICES and value.lower() not in _CHOICES[nkey]:
        raise UsageError(f"invalid value for {key}: {value} (one of {', '.join(_CHOICES[nkey])})")
    if nkey in _INTS:
        try:
            float(value)
        except ValueError:
            raise UsageError(f"invalid value for {key}: {value} (a number)")
    return value


def mask(value: str) -> str:
    """ossutil's way of showing a stored key: 16 stars and the last two characters."""
    return "*" * 16 + value[-2:] if value else ""


def _location(args) -> tuple[str, str, str]:
    """(path, path source, profile) for the config commands."""
    path, psrc, profile, _ = config_location(vars(args), os.environ)
    return path, psrc, profile


# -- ossbox config -------------------------------------------------------------------------------
_VALUE_FLAGS = (("access_key_id", "access-key-id"), ("access_key_secret", "access-key-secret"),
                ("sts_token", "sts-token"), ("mode", "mode"), ("region", "region"),
                ("endpoint", "endpoint"))


def _ask(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise UsageError("input ended before the configuration was complete; nothing was written.")
    return line.strip()


def run_config(args) -> int:
    flags = vars(args)
    path, psrc, profile = _location(args)
    given = {key: flags[dest] for dest, key in _VALUE_FLAGS if flags.get(dest) is not None}
    tty = sys.stdin is not None and sys.stdin.isatty()
    interactive = not given
    if interactive and not tty:
        raise UsageError("'ossbox config' is interactive and stdin is not a terminal. Pass "
                         "--access-key-id, --access-key-secret and --region (and optionally --endpoint, "
                         "--profile, -c), or use 'ossbox config set KEY VALUE'.")
    if interactive and psrc != "flag":
        answer = _ask(CONFIG_FILE_PROMPT.format(default=path))
        if answer:
            path = os.path.expanduser(answer)
    existing = read_profiles(path).get(profile.lower(), {})
    values = dict(given)
    if "mode" in values:
        values["mode"] = check_value("mode", values["mode"])

    prompts = (("access-key-id", "Please enter Access Key ID [{shown}]:", True),
               ("access-key-secret", "Please enter Access Key Secret [{shown}]:", True),
               ("region", "Please enter Region [{shown}]:", False),
               ("endpoint", "Please enter Endpoint (optional, use public endpoint by default) [{shown}]:",
                False))
    if interactive:
        for key, prompt, secret in prompts:
            old = existing.get(norm_key(key), "")
            shown = mask(old) if secret else (old or (DEFAULT_REGION_HINT if key == "region" else "None"))
            answer = _ask(prompt.format(shown=shown))
            if answer:
                values[key] = answer
            elif key == "region" and not old:
                values[key] = DEFAULT_REGION_HINT
    else:
        needs_keys = values.get("mode", existing.get("mode", "")).lower() != "anonymous"
        required = (["access-key-id", "access-key-secret"] if needs_keys else []) + ["region"]
        missing = [k for k in required if k not in values and not existing.get(norm_key(k))]
        if missing and not tty:
            raise UsageError("missing " + ", ".join("--" + k for k in missing) +
                             f" (profile '{profile}' of {path} does not have them either, and stdin is not "
                             "a terminal to ask for them).")
        for key, prompt, secret in prompts:
            if key in missing:
                default = DEFAULT_REGION_HINT if key == "region" else ""
                answer = _ask(prompt.format(shown=default))
                values[key] = answer or default
    if "region" in values and not re.fullmatch(r"[A-Za-z0-9-]+", values["region"]):
        raise UsageError(f"invalid region '{values['region']}' (a region ID such as cn-hangzhou)")

    changes: dict[str, Optional[str]] = {k: v for k, v in values.items() if v != ""}
    new_keys = any(k in changes and changes[k] != existing.get(norm_key(k))
                   for k in ("access-key-id", "access-key-secret"))
    if new_keys and "sts-token" not in changes:
        changes["sts-token"] = None   # a token belongs to the key pair it was issued for
        if "mode" not in changes and existing.get("mode", "").lower() == "ststoken":
            changes["mode"] = None
    for key in list(changes):
        if changes[key] is not None:
            check_value(key, changes[key])
    update_profile(path, profile, changes)
    if interactive:
        sys.stdout.write(f"Profile '{profile}' written to {path}\n")
        sys.stdout.flush()
    return EXIT_OK


# -- ossbox config set / get / list-profiles -----------------------------------------------------
def run_set(args) -> int:
    path, _, profile = _location(args)
    key = canonical_key(args.key)
    value = args.value.strip()
    if value == "":
        update_profile(path, profile, {key: None})
        return EXIT_OK
    value = check_value(key, value)
    if norm_key(key) == "sourceprofile" and value.lower() == profile.lower():
        raise UsageError(f"profile '{profile}' cannot be its own source-profile")
    update_profile(path, profile, {key: value})
    return EXIT_OK


def _profile_or_error(path: str, profile: str) -> dict:
    profiles = read_profiles(path)
    if profile.lower() not in profiles:
        raise UsageError(f"profile '{profile}' not found in {path}")
    return profile_values(profiles, profile, link="sourceprofile")


def run_get(args) -> int:
    path, _, profile = _location(args)
    values = _profile_or_error(path, profile)
    if args.key is None:
        for nkey, value in values.items():
            name = KNOWN_KEYS.get(nkey, nkey)
            sys.stdout.write(f"{name} = {mask(value) if nkey in _SECRET_KEYS else value}\n")
        sys.stdout.flush()
        return EXIT_OK
    nkey = norm_key(canonical_key(args.key))
    value = values.get(nkey)
    if value is None and nkey == "ststoken":
        value = values.get("securitytoken")
    if value is None:
        print_error(f"{canonical_key(args.key)} is not set in profile '{profile}' of {path}")
        return EXIT_USAGE
    sys.stdout.write(value + "\n")
    sys.stdout.flush()
    return EXIT_OK


def run_list_profiles(args) -> int:
    path, _, _ = _location(args)
    for name in read_profiles(path):
        sys.stdout.write(name + "\n")
    sys.stdout.flush()
    return EXIT_OK
