"""Client settings as ossutil 2 resolves them: flags > OSS_* environment > config file profile.

The config file is ossutil's INI (`~/.ossutilconfig`): `[default]` or `[profile NAME]` sections,
`source-profile` inheritance, case-insensitive keys written in any of kebab, snake, camel or flat
case (`access-key-id` = `access_key_id` = `accessKeyId`), and the 1.x `[Credentials]` section.
"""
from __future__ import annotations

import argparse
import configparser
import os
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
    g.add_argument("--mode", default=s, choices=("AK", "StsToken", "Anonymous"),
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
def read_config(path: str) -> dict[str, dict[str, str]]:
    """Profiles of an ossutil INI file: {profile name: {setting: value}} (settings normalised)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       comment_prefixes=("#", ";"), inline_comment_prefixes=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        return {}
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}")
    profiles: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        name = section.strip()
        low = name.lower()
        if low == "default":
            target = "default"
        elif low.startswith("profile "):
            target = name[len("profile "):].strip()
        elif low == "credentials":  # ossutil 1.x layout, still read
            target = "default"
        else:
            continue  # [buckets ...] and other sections are not used by ossbox yet
        values = profiles.setdefault(target, {})
        for key, value in parser.items(section):
            setting = _FILE_KEYS.get(norm_key(key))
            if setting is None or value.strip() == "":
                continue
            if low == "credentials":  # the 1.x section never overrides a [default] value
                values.setdefault(setting, value.strip())
            else:
                values[setting] = value.strip()
    return profiles


def profile_values(profiles: dict, name: str) -> dict[str, str]:
    """A profile's settings with `source-profile` chains resolved (own values win)."""
    seen = []
    values: dict[str, str] = {}
    while name is not None:
        if name in seen:
            raise UsageError(f"source-profile loop: {' -> '.join(seen + [name])}")
        seen.append(name)
        own = profiles.get(name)
        if own is None:
            if len(seen) == 1:
                return {}
            raise UsageError(f"source-profile '{name}' does not exist")
        for k, v in own.items():
            values.setdefault(k, v)
        name = own.get("source_profile")
    values.pop("source_profile", None)
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


def resolve(args: argparse.Namespace, environ: Optional[dict] = None) -> Settings:
    env = os.environ if environ is None else environ
    flags = vars(args)
    s = Settings()
    s.config_file = os.path.expanduser(flags.get("config_file") or env.get("OSSUTIL_CONFIG_FILE")
                                       or DEFAULT_CONFIG_FILE)
    s.profile = flags.get("profile") or env.get("OSSUTIL_PROFILE") or "default"
    profiles = read_config(s.config_file)
    if s.profile != "default" and s.profile not in profiles:
        raise UsageError(f"profile '{s.profile}' not found in {s.config_file}")
    file_values = profile_values(profiles, s.profile)
    use_env = not flags.get("ignore_env_var", False)
    for name in ("access_key_id", "access_key_secret", "sts_token", "mode", "region", "endpoint",
                 "sign_version", "addressing_style", "output_format", "output_query", "quiet",
                 "dry_run", "loglevel", "retry_times", "connect_timeout", "read_timeout", "proxy",
                 "skip_verify_cert"):
        if name in flags:
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
    if s.sign_version not in ("v1", "v4"):
        raise UsageError(f"invalid sign-version: {s.sign_version}")
    if s.addressing_style not in ("virtual", "path", "cname"):
        raise UsageError(f"invalid addressing-style: {s.addressing_style}")
    if s.output_format not in ("raw", "json", "yaml", "xml"):
        raise UsageError(f"invalid output-format: {s.output_format}")
    return s


def make_client(s: Settings):
    """An alibabacloud-oss-v2 Client configured from the settings (no hand-made signing)."""
    import alibabacloud_oss_v2 as oss

    if s.sign_version == "v4" and not s.region:
        raise UsageError("region must be set in sign version 4.")
    mode = s.mode or ("Anonymous" if not (s.access_key_id and s.access_key_secret) else
                      ("StsToken" if s.sts_token else "AK"))
    if mode == "Anonymous":
        provider = oss.credentials.AnonymousCredentialsProvider()
    else:
        if not (s.access_key_id and s.access_key_secret):
            raise UsageError("access-key-id and access-key-secret must be set (flags, OSS_* "
                             "environment or config file).")
        provider = oss.credentials.StaticCredentialsProvider(
            s.access_key_id, s.access_key_secret, s.sts_token if mode == "StsToken" or s.sts_token else None)
    cfg = oss.config.load_default()
    cfg.credentials_provider = provider
    cfg.region = s.region or DEFAULT_REGION_HINT
    cfg.endpoint = s.endpoint or f"https://oss-{cfg.region}.aliyuncs.com"
    cfg.signature_version = s.sign_version
    cfg.use_path_style = s.addressing_style == "path"
    cfg.use_cname = s.addressing_style == "cname"
    cfg.retry_max_attempts = max(1, s.retry_times + 1)
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
