"""Client settings as ossutil 2 resolves them: flags > OSS_* environment > config file profile.

The config file is ossutil's INI (`~/.ossutilconfig`): `[default]` or `[profile NAME]` sections,
`source-profile` inheritance, case-insensitive section names and keys written in any of kebab, snake,
camel or flat case (`access-key-id` = `access_key_id` = `accessKeyId`), `#` comments (whole-line, or
after whitespace at the end of a value), and the 1.x `[Credentials]` section (read as `default`; a
`[default]` value wins over it).

Precedence is per setting: flags > OSS_* environment (not with --ignore-env-var) > config file. One
refinement keeps credentials coherent: an STS token or a credential `mode` from a lower-precedence
source than the AccessKey ID is dropped (so `-i/-k` on the command line are not combined with a stale
`sts-token` or `mode = StsToken` from the file). OSSUTIL_CONFIG_FILE / OSSUTIL_PROFILE are not OSS_*
variables and are read even with --ignore-env-var. Option values of the global flags are literal:
ossutil documents `file://PATH` / `-` loading for command options (bodies), not for credentials.
"""
from __future__ import annotations

import argparse
import configparser
import os
import re
from dataclasses import dataclass, field
from typing import Optional

DEFAULT_CONFIG_FILE = "~/.ossutilconfig"
DEFAULT_REGION_HINT = "cn-hangzhou"

# setting name -> OSS_* environment variable (ignored with --ignore-env-var)
ENV_VARS = {
    "access_key_id": "OSS_ACCESS_KEY_ID",
    "access_key_secret": "OSS_ACCESS_KEY_SECRET",
    "sts_token": "OSS_SESSION_TOKEN",
    "region": "OSS_REGION",
    "endpoint": "OSS_ENDPOINT",
}

# config-file keys we understand, by normalised name (no '-', '_', case)
_FILE_KEYS = {
    "accesskeyid": "access_key_id", "accesskeysecret": "access_key_secret", "ststoken": "sts_token",
    "securitytoken": "sts_token", "region": "region", "endpoint": "endpoint", "mode": "mode",
    "signversion": "sign_version", "addressingstyle": "addressing_style",
    "outputformat": "output_format", "loglevel": "loglevel", "retrytimes": "retry_times",
    "connecttimeout": "connect_timeout", "readtimeout": "read_timeout",
    "skipverifycert": "skip_verify_cert", "proxy": "proxy", "language": "language",
    "sourceprofile": "source_profile",
}


class UsageError(Exception):
    """A problem with the command line or configuration: exit status 1."""


def norm_key(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


# credential modes by normalised name; ossbox implements AK, StsToken and Anonymous
_MODES = {m.lower(): m for m in ("AK", "StsToken", "Anonymous", "EcsRamRole", "Ali-EcsRamRole", "RamRoleArn",
                                 "oidcRoleArn", "Process", "CredentialsURI")}
SUPPORTED_MODES = ("AK", "StsToken", "Anonymous")


def normalize_mode(value: str) -> str:
    """`ak` -> `AK`, `ststoken` -> `StsToken`; unknown names are returned unchanged."""
    return _MODES.get(value.strip().lower(), value.strip())


def _mode_arg(value: str) -> str:
    return normalize_mode(value)


@dataclass
class Settings:
    access_key_id: Optional[str] = None
    access_key_secret: Optional[str] = None
    sts_token: Optional[str] = None
    mode: Optional[str] = None
    region: Optional[str] = None
    endpoint: Optional[str] = None
    sign_version: str = "v4"
    addressing_style: str = "virtual"
    output_format: str = "raw"
    output_query: Optional[str] = None
    quiet: bool = False
    dry_run: bool = False
    loglevel: str = "off"
    retry_times: int = 10
    connect_timeout: float = 10
    read_timeout: float = 20
    proxy: Optional[str] = None
    skip_verify_cert: bool = False
    config_file: str = DEFAULT_CONFIG_FILE
    profile: str = "default"
    sources: dict = field(default_factory=dict)   # setting -> where it came from (flag/env/file)


# -- the global options, shared by every command --------------------------------------------------
def add_global_options(parser: argparse.ArgumentParser, *, short_c: bool = True, short_n: bool = True) -> None:
    """ossutil's global flags. Defaults are SUPPRESS so a flag given before the command is not
    overwritten by the command's own copy of the option."""
    s = argparse.SUPPRESS
    g = parser.add_argument_group("global options")
    g.add_argument("-i", "--access-key-id", default=s, help="AccessKey ID")
    g.add_argument("-k", "--access-key-secret", default=s, help="AccessKey secret")
    g.add_argument("-t", "--sts-token", default=s, help="STS security token")
    g.add_argument("--mode", default=s, type=_mode_arg, choices=SUPPORTED_MODES,
                   help="credential mode (default: AK when keys are set)")
    g.add_argument("-e", "--endpoint", default=s, help="endpoint (default https://oss-<region>.aliyuncs.com)")
    g.add_argument("--region", default=s, help="region, e.g. cn-hangzhou (required for v4 signing)")
    g.add_argument(*(["-c"] if short_c else []), "--config-file", default=s,
                   help=f"config file (default {DEFAULT_CONFIG_FILE}; env OSSUTIL_CONFIG_FILE)")
    g.add_argument("--profile", default=s, help="config profile (default: default; env OSSUTIL_PROFILE)")
    g.add_argument("--sign-version", default=s, choices=("v1", "v4"), help="signature version (default v4)")
    g.add_argument("--addressing-style", default=s, choices=("virtual", "path", "cname"),
                   help="bucket addressing (default virtual)")
    g.add_argument("--output-format", default=s, choices=("raw", "json", "yaml", "xml"),
                   help="output format (default raw)")
    g.add_argument("--output-query", default=s, help="JMESPath query over the JSON form of the output")
    g.add_argument("-q", "--quiet", action="store_true", default=s, help="print as little as possible")
    g.add_argument(*(["-n"] if short_n else []), "--dry-run", action="store_true", default=s,
                   help="show what would be sent, send nothing")
    g.add_argument("--loglevel", default=s, choices=("off", "info", "debug"), help="log level (default off)")
    g.add_argument("--retry-times", type=int, default=s, help="retries on retryable errors (default 10)")
    g.add_argument("--connect-timeout", type=float, default=s, help="connect timeout in seconds (default 10)")
    g.add_argument("--read-timeout", type=float, default=s, help="read/write timeout in seconds (default 20)")
    g.add_argument("--proxy", default=s, help="proxy URL, or 'env' for HTTP_PROXY/HTTPS_PROXY")
    g.add_argument("--skip-verify-cert", action="store_true", default=s, help="do not verify TLS certificates")
    g.add_argument("--ignore-env-var", action="store_true", default=s, help="ignore the OSS_* environment variables")


# -- config file ---------------------------------------------------------------------------------
_TOP = "ossbox:top-level"   # keys before the first section header land here (and are ignored)
_SECTION_LINE = re.compile(r"^\[[^\[\]]*\]\s*(?:[#;].*)?$")


def _profile_of_section(section: str) -> Optional[str]:
    """The profile a section header feeds ('default', 'name') or None for other sections."""
    low = " ".join(section.split()).lower()
    if low in ("default", "credentials"):  # [Credentials]: ossutil 1.x layout, still read
        return "default"
    if low.startswith("profile "):
        return low[len("profile "):].strip() or None
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def read_profiles(path: str) -> dict[str, dict[str, str]]:
    """Every key of every profile section: {profile (lower case): {norm_key: value}}.

    Unknown keys are kept (as their normalised name); empty values are skipped. `[default]` and
    `[profile default]` are the same profile; `[Credentials]` feeds `default` without overriding it."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True,
                                       comment_prefixes=("#", ";"), inline_comment_prefixes=("#",),
                                       default_section="\0ossbox-no-default")
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read config file {path}: {exc}")
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("[") and not _SECTION_LINE.match(line):
            raise UsageError(f"cannot read config file {path}: line {number}: bad section header {line!r}")
    try:
        parser.read_string(f"[{_TOP}]\n" + text, source=path)
    except configparser.Error as exc:
        raise UsageError(f"cannot read config file {path}: {exc}")
    profiles: dict[str, dict[str, str]] = {}
    from_legacy: set[tuple[str, str]] = set()   # (profile, key) whose value came from [Credentials]
    for section in parser.sections():
        target = _profile_of_section(section)
        if target is None:
            continue  # [buckets ...], [Bucket-Endpoint], [Bucket-Cname]: not used by ossbox yet
        legacy = " ".join(section.split()).lower() == "credentials"
        values = profiles.setdefault(target, {})
        for key, value in parser.items(section):
            if value is None or _unquote(value) == "":
                continue
            k, v = norm_key(key), _unquote(value)
            if legacy:  # the 1.x section never overrides a [default] value
                if k in values and (target, k) not in from_legacy:
                    continue
                from_legacy.add((target, k))
            else:
                from_legacy.discard((target, k))
            values[k] = v
    return profiles


def read_config(path: str) -> dict[str, dict[str, str]]:
    """Profiles of an ossutil INI file: {profile name (lower case): {setting: value}}, keeping only
    the settings ossbox uses (normalised to Settings attribute names)."""
    out: dict[str, dict[str, str]] = {}
    for name, raw in read_profiles(path).items():
        values = out.setdefault(name, {})
        for k, v in raw.items():
            setting = _FILE_KEYS.get(k)
            if setting is not None:
                values[setting] = v
    return out


def profile_values(profiles: dict, name: str, link: str = "source_profile") -> dict[str, str]:
    """A profile's settings with `source-profile` chains resolved (own values win). Profile names
    are case-insensitive; a loop or a missing source profile is a usage error. `link` is the key
    naming the source profile (`sourceprofile` for read_profiles() dicts)."""
    seen: list[str] = []
    values: dict[str, str] = {}
    name = name.strip().lower() if name is not None else None
    while name is not None:
        if name in seen:
            raise UsageError(f"source-profile loop: {' -> '.join(seen + [name])}")
        seen.append(name)
        own = profiles.get(name)
        if own is None:
            if len(seen) == 1:
                return {}
            raise UsageError(f"source-profile '{name}' (used by profile '{seen[-2]}') does not exist")
        for k, v in own.items():
            values.setdefault(k, v)
        nxt = own.get(link)
        name = nxt.strip().lower() if nxt and nxt.strip() else None
    values.pop(link, None)
    return values


# -- resolution ----------------------------------------------------------------------------------
_BOOL = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}


def _convert(name: str, value):
    if isinstance(value, str):
        if name in ("retry_times",):
            return int(value)
        if name in ("connect_timeout", "read_timeout"):
            return float(value)
        if name in ("skip_verify_cert",):
            if value.lower() not in _BOOL:
                raise UsageError(f"invalid value for {name}: {value}")
            return _BOOL[value.lower()]
    return value


_RANK = {"flag": 3, "env": 2, "file": 1}
_SETTINGS = ("access_key_id", "access_key_secret", "sts_token", "mode", "region", "endpoint",
             "sign_version", "addressing_style", "output_format", "output_query", "quiet",
             "dry_run", "loglevel", "retry_times", "connect_timeout", "read_timeout", "proxy",
             "skip_verify_cert")


def config_location(flags: dict, env) -> tuple[str, str, str, str]:
    """(config file path, its source, profile name, its source): flag > OSSUTIL_* env > default."""
    if flags.get("config_file"):
        path, psrc = flags["config_file"], "flag"
    elif env.get("OSSUTIL_CONFIG_FILE"):
        path, psrc = env["OSSUTIL_CONFIG_FILE"], "env"
    else:
        path, psrc = DEFAULT_CONFIG_FILE, "default"
    if flags.get("profile"):
        profile, fsrc = flags["profile"], "flag"
    elif env.get("OSSUTIL_PROFILE"):
        profile, fsrc = env["OSSUTIL_PROFILE"], "env"
    else:
        profile, fsrc = "default", "default"
    return os.path.expanduser(path), psrc, profile.strip(), fsrc


def resolve(args: argparse.Namespace, environ: Optional[dict] = None) -> Settings:
    env = os.environ if environ is None else environ
    flags = vars(args)
    s = Settings()
    s.config_file, s.sources["config_file"], s.profile, s.sources["profile"] = config_location(flags, env)
    profiles = read_config(s.config_file)
    if s.profile.lower() != "default" and s.profile.lower() not in profiles:
        raise UsageError(f"profile '{s.profile}' not found in {s.config_file}")
    file_values = profile_values(profiles, s.profile)
    use_env = not flags.get("ignore_env_var", False)
    for name in _SETTINGS:
        if name in flags and flags[name] is not None:
            value, source = flags[name], "flag"
        elif use_env and name in ENV_VARS and env.get(ENV_VARS[name]):
            value, source = env[ENV_VARS[name]], "env"
        elif name in file_values:
            value, source = file_values[name], "file"
        else:
            continue
        try:
            setattr(s, name, _convert(name, value))
        except ValueError:
            raise UsageError(f"invalid value for {name.replace('_', '-')}: {value}")
        s.sources[name] = source
    # credentials stay coherent: a token or mode from a weaker source than the key id is stale
    key_rank = _RANK.get(s.sources.get("access_key_id"), 0)
    for name in ("sts_token", "mode"):
        if name in s.sources and _RANK[s.sources[name]] < key_rank:
            setattr(s, name, None)
            s.sources[name] = "dropped:" + s.sources[name]
    if s.mode is not None:
        s.mode = normalize_mode(s.mode)
    if s.sign_version not in ("v1", "v4"):
        raise UsageError(f"invalid sign-version: {s.sign_version}")
    if s.addressing_style not in ("virtual", "path", "cname"):
        raise UsageError(f"invalid addressing-style: {s.addressing_style}")
    if s.output_format not in ("raw", "json", "yaml", "xml"):
        raise UsageError(f"invalid output-format: {s.output_format}")
    if s.loglevel not in ("off", "info", "debug"):
        raise UsageError(f"invalid loglevel: {s.loglevel}")
    return s


def credential_mode(s: Settings) -> str:
    """The credential mode in effect: the configured one, else StsToken / AK when keys are set,
    else Anonymous."""
    if s.mode:
        return normalize_mode(s.mode)
    if s.access_key_id or s.access_key_secret:
        return "StsToken" if s.sts_token else "AK"
    return "Anonymous"


class DryRunRefused(Exception):
    """A request reached the transport under --dry-run. Every command describes its requests
    instead of sending them; this is the safety net that keeps --dry-run off the wire."""


def _no_send_transport():
    from alibabacloud_oss_v2.types import HttpClient

    class NoSend(HttpClient):
        def send(self, request, **kwargs):
            raise DryRunRefused(f"--dry-run: not sending {request.method} {request.url}")

        def open(self) -> None:
            pass

        def close(self) -> None:
            pass
    return NoSend()


def causes(exc: BaseException):
    """exc and every exception behind it (causes, contexts, wrapped SDK / urllib3 errors)."""
    seen: set = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen or len(seen) > 32:
            continue
        seen.add(id(e))
        yield e
        unwrap = getattr(e, "unwrap", None)
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None),
                     unwrap() if callable(unwrap) else None])
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def unreachable(exc: BaseException) -> Optional[str]:
    """Why the endpoint cannot be reached at all ('connection refused', 'host name not found'),
    or None. These fail at once: retrying them only makes the user wait in silence (about a
    minute with the default 10 retries), and a refused connection is known not to have sent
    anything. Timeouts and resets stay retryable."""
    import errno
    import socket

    for e in causes(exc):
        if isinstance(e, socket.gaierror):
            return "host name not found"
        if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED):
            return "connection refused"
    return None


def unreachable_message(exc: BaseException) -> Optional[str]:
    """A clear one-line message for an unreachable endpoint, or None."""
    reason = unreachable(exc)
    if reason is None:
        return None
    where = ""
    for e in causes(exc):
        conn = getattr(e, "conn", None)
        if getattr(conn, "host", None):
            where = f" {conn.host}:{conn.port}"
            break
    return (f"cannot reach the endpoint{where}: {reason} (not retried). Is the server running, and is "
            "the endpoint (-e/--endpoint, OSS_ENDPOINT or the config file) right?")


def _retryer(max_attempts: int):
    from alibabacloud_oss_v2.retry import StandardRetryer

    class FailFast(StandardRetryer):
        def is_error_retryable(self, error: Exception) -> bool:
            return unreachable(error) is None and super().is_error_retryable(error)
    return FailFast(max_attempts=max_attempts)


def make_client(s: Settings):
    """An alibabacloud-oss-v2 Client configured from the settings (no hand-made signing)."""
    import alibabacloud_oss_v2 as oss

    if s.sign_version == "v4" and not s.region:
        raise UsageError("region must be set in sign version 4.")
    mode = credential_mode(s)
    if mode == "Anonymous":
        provider = oss.credentials.AnonymousCredentialsProvider()
    elif mode in ("AK", "StsToken"):
        if not (s.access_key_id and s.access_key_secret):
            missing = "access-key-id" if not s.access_key_id else "access-key-secret"
            raise UsageError(f"{missing} must be set (flag, OSS_* environment variable or config file).")
        if mode == "StsToken" and not s.sts_token:
            raise UsageError("sts-token must be set in StsToken mode.")
        provider = oss.credentials.StaticCredentialsProvider(
            s.access_key_id, s.access_key_secret, s.sts_token if mode == "StsToken" else None)
    else:
        raise UsageError(f"credential mode '{mode}' is not supported by ossbox "
                         f"(supported: {', '.join(SUPPORTED_MODES)}).")
    cfg = oss.config.load_default()
    cfg.credentials_provider = provider
    cfg.region = s.region or DEFAULT_REGION_HINT
    cfg.endpoint = s.endpoint or f"https://oss-{cfg.region}.aliyuncs.com"
    cfg.signature_version = s.sign_version
    cfg.use_path_style = s.addressing_style == "path"
    cfg.use_cname = s.addressing_style == "cname"
    cfg.retry_max_attempts = max(1, s.retry_times + 1)
    cfg.retryer = _retryer(cfg.retry_max_attempts)
    if s.dry_run:
        cfg.http_client = _no_send_transport()
    cfg.connect_timeout = s.connect_timeout
    cfg.readwrite_timeout = s.read_timeout
    cfg.insecure_skip_verify = s.skip_verify_cert
    if s.proxy and s.proxy != "env":
        cfg.proxy_host = s.proxy
    elif s.proxy == "env":
        proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("HTTP_PROXY")
        if proxy:
            cfg.proxy_host = proxy
    cfg.user_agent = "ossbox"
    return oss.Client(cfg)
