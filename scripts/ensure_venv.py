"""Make `.venv` one that `make` can trust, or build it anew.

Run by `make install` with the system's Python (`make PYTHON=python3.12 ...` picks another). A venv
is trusted only when all of this holds, and rebuilt from nothing when any does not:

- its stamp (`.venv/.ridgeline-stamp`) says it was built in this checkout by this interpreter;
- its `bin/python` runs;
- every script in its `bin/` starts with a `#!` inside this checkout's `.venv` (a venv copied or
  cloned from another path runs that other checkout's tools and packages);

and the project is installed again when `pyproject.toml` or the extras asked for changed since the
stamp. Written for any Python 3 so that an old one is told what is needed instead of failing on
syntax.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
STAMP = os.path.join(VENV, ".ridgeline-stamp")
PYPROJECT = os.path.join(ROOT, "pyproject.toml")


def required_python():
    with open(PYPROJECT, encoding="utf-8") as handle:
        match = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)', handle.read())
    if match is None:
        sys.exit("pyproject.toml names no requires-python: cannot tell which Python to use")
    return int(match.group(1)), int(match.group(2))


def check_interpreter():
    needed = required_python()
    if sys.version_info[:2] < needed:
        found = ".".join(str(part) for part in sys.version_info[:3])
        sys.exit(
            f"Ridgeline needs Python {needed[0]}.{needed[1]} or newer; {sys.executable} is "
            f"Python {found}. Install a newer Python and run make with "
            f"PYTHON=/path/to/python{needed[0]}.{needed[1]} (or newer)."
        )


def requirements_digest():
    with open(PYPROJECT, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def interpreter_identity():
    return {
        "executable": os.path.realpath(sys.executable),
        "version": ".".join(str(part) for part in sys.version_info[:3]),
        "venv": VENV,
    }


def read_stamp():
    try:
        with open(STAMP, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def python_runs():
    try:
        done = subprocess.run(
            [os.path.join(VENV, "bin", "python"), "-c", "import sys"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def foreign_scripts():
    """Scripts in the venv's bin/ whose `#!` line points outside this checkout's venv."""
    foreign = []
    bin_dir = os.path.join(VENV, "bin")
    for name in sorted(os.listdir(bin_dir)):
        path = os.path.join(bin_dir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            first, second = handle.readline(4096), handle.readline(4096)
        interpreter = shebang_interpreter(first, second)
        if interpreter is not None and not interpreter.startswith(VENV + os.sep):
            foreign.append(name)
    return foreign


PIP_LONG_PATH_WRAPPER = b"'''exec' "


def shebang_interpreter(first, second):
    """The interpreter a script runs, from its first two lines; None for a portable script."""
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words or words[0] == "/usr/bin/env":
        return None
    if words[0] == "/bin/sh" and second.startswith(PIP_LONG_PATH_WRAPPER):
        # pip's wrapper where the venv's path is too long for a `#!` line
        words = second[len(PIP_LONG_PATH_WRAPPER) :].decode("utf-8", "replace").split()
        return words[0].strip("'\"") if words else None
    return words[0]


def reason_to_rebuild(stamp):
    if not os.path.isdir(VENV):
        return "there is no .venv"
    if stamp is None:
        return ".venv has no stamp of a build by `make` in this checkout"
    if stamp.get("interpreter") != interpreter_identity():
        return ".venv was built by another interpreter or at another path"
    if not python_runs():
        return ".venv/bin/python does not run"
    foreign = foreign_scripts()
    if foreign:
        return f".venv/bin scripts point outside this checkout ({', '.join(foreign[:3])})"
    return None


def run(*command):
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main():
    extras = sorted(set(filter(None, (sys.argv[1] if len(sys.argv) > 1 else "dev").split(","))))
    check_interpreter()
    stamp = read_stamp()
    reason = reason_to_rebuild(stamp)
    if reason is not None:
        print(f"Building .venv: {reason}.", flush=True)
        shutil.rmtree(VENV, ignore_errors=True)
        run(sys.executable, "-m", "venv", VENV)
        stamp = None
    python = os.path.join(VENV, "bin", "python")
    installed = set(stamp.get("extras", [])) if stamp else set()
    same_requirements = stamp is not None and stamp.get("requirements") == requirements_digest()
    if same_requirements and set(extras) <= installed:
        return
    wanted = sorted(set(extras) | installed) if same_requirements else extras
    if stamp is None:
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(python, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{','.join(wanted)}]")
    with open(STAMP, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "interpreter": interpreter_identity(),
                "requirements": requirements_digest(),
                "extras": wanted,
            },
            handle,
            indent=2,
        )
        handle.write("\n")


if __name__ == "__main__":
    main()
