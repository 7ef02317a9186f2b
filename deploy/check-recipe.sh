#!/usr/bin/env bash
# Check deploy/Dockerfile without Docker (CI cannot pull images): replay its steps on this machine
# in a plain venv, under a scratch directory that stands for the image's file system.
#
#   deploy/check-recipe.sh            (PYTHON=python3.12 to pick the interpreter)
#
# What it does, instruction by instruction:
#   FROM         checks that the base is a slim Python image; a venv of $PYTHON stands for it
#   COPY . /src  copies the build context that Dockerfile.dockerignore lets through
#   RUN          runs the command with bash, the image's absolute paths mapped under the scratch
#                directory and the venv first on PATH (so `pip` and `python` are the venv's);
#                `useradd` is skipped (it would change this machine): USER is checked instead
#   USER         must not be root
#   WORKDIR/ENV  applied (paths mapped); OSSBOX_HOST/OSSBOX_PORT are then replaced by 127.0.0.1
#                and a free port, so the check never collides with anything on this machine
#   VOLUME       must be the data dir, and the server must write its data there
#   HEALTHCHECK  its command is run until it succeeds (within the start period)
#   ENTRYPOINT/CMD  started as the container would be; then STOPSIGNAL must stop it with status 0
#                after the graceful shutdown summary.
# Exit status 0 when every step passed; the scratch directory is removed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" - "$HERE/.." <<'PY'
import fnmatch, json, os, re, shlex, shutil, signal, socket, subprocess, sys, tempfile, time

repo = os.path.realpath(sys.argv[1])
dockerfile = os.path.join(repo, "deploy", "Dockerfile")
ignore_file = os.path.join(repo, "deploy", "Dockerfile.dockerignore")
work = tempfile.mkdtemp(prefix="ossbox-recipe-")
root = os.path.join(work, "root")          # the image's file system
venv = os.path.join(work, "venv")          # the image's Python
failures = []


def say(msg):
    print(f"check-recipe: {msg}", flush=True)


def fail(msg):
    say("FAIL: " + msg)
    failures.append(msg)


def instructions(path):
    """(INSTRUCTION, argument text) of a Dockerfile: comments dropped, continuations joined."""
    out, pending = [], ""
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        word, _, rest = text.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


CONTAINER_PATHS = re.compile(r"(?<![\w.~/-])(/(?:src|var/lib/ossbox|tmp)(?=[/\s'\"\]\[]|$)[^\s'\"\]\[]*)")


def mapped(text):
    """The image's absolute paths in text, under the scratch root. Anything else absolute is
    refused: a replayed `rm -rf /x` must never reach this machine's /x."""
    text = CONTAINER_PATHS.sub(lambda m: root + m.group(1), text)
    for token in shlex.split(text):
        for part in re.findall(r"(?<![\w.~-])/[^\s'\"\[\]]*", token):
            if not part.startswith(work) and not part.startswith("/dev/null"):
                raise SystemExit(f"check-recipe: refusing to replay a step with the path {part!r} "
                                 "outside the image paths it knows (/src, /var/lib/ossbox, /tmp)")
    return text


def docker_ignored(rel, patterns):
    """Dockerfile.dockerignore semantics for our patterns: the last matching line wins, '!'
    re-includes, a pattern matches a path or any of its parent directories."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatchcase(c, pat) for c in candidates):
            ignored = not neg
    return ignored


def copy_context(dest):
    patterns = [p.strip() for p in open(ignore_file, encoding="utf-8")
                if p.strip() and not p.lstrip().startswith("#")]
    count = 0
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in (".git",)]
        for name in filenames:
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, repo)
            if docker_ignored(rel, patterns):
                continue
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))
            count += 1
    return count


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSBOX_")}
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)   # only what the recipe installed
    env["HOME"] = os.path.join(root, "home")
    os.makedirs(env["HOME"])
    cwd, user, volumes, health, entry, cmd, stop = root, "root", [], None, [], [], "SIGTERM"
    health_opts = {}
    for word, arg in instructions(dockerfile):
        if word == "FROM":
            if not re.fullmatch(r"python:[\w.]+-slim(-\w+)?", arg):
                fail(f"FROM {arg}: not a slim Python base image")
            say(f"FROM {arg}: a venv of {sys.executable} stands for it")
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        elif word == "COPY":
            src, dest = shlex.split(arg)
            if src != ".":
                fail(f"COPY {arg}: only 'COPY . DIR' is replayed")
                continue
            n = copy_context(root + dest)
            say(f"COPY . {dest}: {n} files through Dockerfile.dockerignore")
        elif word == "RUN":
            steps = []
            for step in re.split(r"\s*&&\s*", arg):
                if step.split()[0] == "useradd":
                    say(f"RUN {step}: skipped (would add a user to this machine; USER is checked)")
                    continue
                steps.append(mapped(step))
            if steps:
                say("RUN " + " && ".join(steps))
                subprocess.run(["bash", "-ec", " && ".join(steps)], cwd=cwd, env=env, check=True)
        elif word == "USER":
            user = arg
            if user in ("root", "0") or user.startswith(("root:", "0:")):
                fail("USER is root")
        elif word == "WORKDIR":
            cwd = mapped(arg)
            os.makedirs(cwd, exist_ok=True)
        elif word == "ENV":
            for pair in shlex.split(arg):
                key, _, value = pair.partition("=")
                env[key] = mapped(value)
        elif word == "VOLUME":
            volumes += json.loads(arg) if arg.startswith("[") else arg.split()
        elif word == "HEALTHCHECK":
            opts, _, command = arg.partition("CMD ")
            health_opts = dict(re.findall(r"--([\w-]+)=(\S+)", opts))
            health = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
        elif word == "ENTRYPOINT":
            entry = json.loads(arg)
        elif word == "CMD":
            cmd = json.loads(arg)
        elif word == "STOPSIGNAL":
            stop = arg
        elif word in ("EXPOSE", "LABEL", "ARG"):
            pass
        else:
            fail(f"{word}: not replayed by this script")
    if user == "root":
        fail("no USER: the server would run as root")
    if health is None:
        fail("no HEALTHCHECK")
    if not entry:
        fail("no ENTRYPOINT")
    data_dir = env.get("OSSBOX_DATA_DIR", "")
    if not any(data_dir == mapped(v) for v in volumes):
        fail(f"the data dir {data_dir!r} is not a VOLUME ({volumes})")
    if failures:
        return
    env["OSSBOX_HOST"], env["OSSBOX_PORT"] = "127.0.0.1", str(free_port())
    argv = entry + cmd
    say(f"start: {' '.join(argv)} (OSSBOX_PORT={env['OSSBOX_PORT']})")
    log_path = os.path.join(work, "server.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        start_period = float(health_opts.get("start-period", "60s").rstrip("s"))
        deadline = time.monotonic() + max(start_period, 30)
        while True:
            r = subprocess.run(health, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                say(f"HEALTHCHECK passed: {' '.join(health)}")
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                fail(f"HEALTHCHECK never passed (last exit {r.returncode}: {r.stderr.strip()[-300:]})")
                return
            time.sleep(1)
        if not os.path.exists(os.path.join(data_dir, "credentials.json")):
            fail(f"the server wrote no credentials.json into the data dir volume {data_dir}")
        proc.send_signal(getattr(signal, stop))
        bound = float(env.get("OSSBOX_SHUTDOWN_TIMEOUT", "30")) + 15
        try:
            status = proc.wait(bound)
        except subprocess.TimeoutExpired:
            fail(f"{stop} did not stop the server within {bound:g} s")
            return
        output = open(log_path).read()
        if status != 0:
            fail(f"{stop}: exit status {status}")
        if "ossbox stopped serving" not in output:
            fail(f"{stop}: no graceful shutdown summary in the output")
        else:
            say(f"{stop}: exit status {status}; " + output.strip().splitlines()[-1])
        # after a health check that fails: the server is gone, and the probe says so
        r = subprocess.run(health, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            fail("HEALTHCHECK still passes with the server stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if failures:
            sys.stdout.write(open(log_path).read())


try:
    main()
finally:
    shutil.rmtree(work, ignore_errors=True)
if failures:
    say(f"{len(failures)} problem(s)")
    sys.exit(1)
say("the recipe works")
PY
