"""High-level commands with ossutil 2's grammar: mb, rb, ls, stat, cat, rm, cp (one module per
command: bucket_cmd.py, ls_cmd.py, stat_cmd.py, cat_cmd.py, rm_cmd.py, cp_cmd.py), and append/tail
(append_cmd.py, which describes its own behaviour).

Everything goes through the official alibabacloud-oss-v2 SDK (paginators, uploader, downloader,
copier), so these commands work against Alibaba Cloud OSS as well as `ossbox server`.

Behaviour worth knowing (ossutil 2 conventions unless noted):

* URLs are `oss://bucket[/key]`; anything else where a URL is expected is a usage error (exit 1).
* Results go to stdout and end with `<seconds>(s) elapsed` unless `-q`; errors go to stderr as
  `Error: ...`. Exit status: 0 ok, 1 usage, 2 the service refused, 3 client/network error,
  4 some items of a batch (`cp -r`, `rm -r`, `rb -f`) failed, 5 interrupted.
* `ls` and `stat` honour `--output-format json|yaml|xml` and `--output-query`.
* `cp` overwrites an existing destination, except that on a terminal it asks first (`-f/--force`
  does not ask); `-u/--update` copies only newer sources, `--ignore-existing` skips existing ones.
  Files of `--bigfile-threshold` (default 100 MiB) or more go multipart (SDK uploader, downloader
  or copier) with `--part-size` parts. A progress bar is drawn on stderr only when stderr is a
  terminal (never with `--no-progress` or `-q`). The run ends with ossutil's summary line
  (`Success: Total N files, size X, Upload done:(...)`), which `-q` drops.
* `rm -r` asks for confirmation on a terminal and refuses (exit 1) without `-f` otherwise.
* `--dry-run` (`-n`) prints what would be done and sends nothing at all (no listing or HEAD
  either), in every command; `cat` and `cp ... -` put the elapsed trailer on stderr, after the
  object's bytes would have been.
"""
from __future__ import annotations


def register(sub, add_globals) -> None:
    from . import append_cmd, bucket_cmd, cat_cmd, cp_cmd, ls_cmd, rm_cmd, stat_cmd

    for command in (bucket_cmd, ls_cmd, stat_cmd, cat_cmd, rm_cmd, cp_cmd, append_cmd):
        command.register(sub, add_globals)
