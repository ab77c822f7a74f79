"""What a fresh clone relies on: nothing ignored is tracked, and `make` trusts only a venv it built
in this checkout with this interpreter (scripts/ensure_venv.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUARD = ROOT / "scripts" / "check_tracked_ignored.sh"
ENSURE_VENV = ROOT / "scripts" / "ensure_venv.py"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _guard(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(GUARD)], cwd=repo, capture_output=True, text=True, check=False
    )


def test_the_main_checkout_tracks_nothing_it_ignores() -> None:
    assert _guard(ROOT).returncode == 0


def test_the_guard_fails_in_one_line_on_a_tracked_ignored_file(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    (tmp_path / "README.md").write_text("a project\n")
    _git(tmp_path, "add", ".gitignore", "README.md")
    _git(tmp_path, "commit", "-q", "-m", "clean")
    assert _guard(tmp_path).returncode == 0

    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "pytest").write_text("#!/elsewhere/.venv/bin/python\n")
    _git(tmp_path, "add", "--force", ".venv/bin/pytest")
    _git(tmp_path, "commit", "-q", "-m", "a venv sneaks in")
    failed = _guard(tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert ".venv/bin/pytest" in failed.stderr
    assert "git rm -r --cached" in failed.stderr


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout at another path: its own pyproject.toml and a copy of the script."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ENSURE_VENV, tmp_path / "scripts" / "ensure_venv.py")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _load(checkout: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ensure_venv_copy", checkout / "scripts" / "ensure_venv.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _venv_built_by_make(checkout: Path, ensure: ModuleType) -> Path:
    """What ensure_venv leaves after a build, without the slow pip install."""
    venv = checkout / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "bin" / "tool").write_text(f"#!{venv}/bin/python\nprint('hi')\n")
    (venv / ".ridgeline-stamp").write_text(
        json.dumps(
            {
                "interpreter": ensure.interpreter_identity(),
                "requirements": ensure.requirements_digest(),
                "extras": ["dev"],
            }
        )
    )
    return venv


def test_a_venv_built_here_is_trusted(checkout: Path) -> None:
    ensure = _load(checkout)
    _venv_built_by_make(checkout, ensure)
    assert ensure.reason_to_rebuild(ensure.read_stamp()) is None


def test_a_venv_without_a_stamp_is_rebuilt(checkout: Path) -> None:
    ensure = _load(checkout)
    venv = _venv_built_by_make(checkout, ensure)
    (venv / ".ridgeline-stamp").unlink()
    assert "no stamp" in ensure.reason_to_rebuild(ensure.read_stamp())


def test_a_venv_whose_scripts_point_at_another_checkout_is_rebuilt(checkout: Path) -> None:
    ensure = _load(checkout)
    venv = _venv_built_by_make(checkout, ensure)
    (venv / "bin" / "pytest").write_text("#!/work/elsewhere/.venv/bin/python3\nimport sys\n")
    # pip's form for paths too long for a `#!` line is read too
    (venv / "bin" / "ruff-wrapper").write_text(
        "#!/bin/sh\n'''exec' '/work/elsewhere/.venv/bin/python' \"$0\" \"$@\"\n' '''\n"
    )
    reason = ensure.reason_to_rebuild(ensure.read_stamp())
    assert reason == ".venv/bin scripts point outside this checkout (pytest, ruff-wrapper)"


def test_a_venv_whose_python_does_not_run_is_rebuilt(checkout: Path) -> None:
    ensure = _load(checkout)
    venv = _venv_built_by_make(checkout, ensure)
    python = venv / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    assert ensure.reason_to_rebuild(ensure.read_stamp()) == ".venv/bin/python does not run"


def test_a_venv_moved_from_another_path_is_rebuilt(checkout: Path) -> None:
    ensure = _load(checkout)
    venv = _venv_built_by_make(checkout, ensure)
    stamp = json.loads((venv / ".ridgeline-stamp").read_text())
    stamp["interpreter"]["venv"] = "/work/elsewhere/.venv"
    (venv / ".ridgeline-stamp").write_text(json.dumps(stamp))
    assert "another interpreter or at another path" in ensure.reason_to_rebuild(stamp)


def test_too_old_a_python_is_named_with_the_version_needed(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('requires-python = ">=3.11"', 'requires-python = ">=3.99"')
    )
    done = subprocess.run(
        [sys.executable, str(checkout / "scripts" / "ensure_venv.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    found = ".".join(str(part) for part in sys.version_info[:3])
    assert f"Ridgeline needs Python 3.99 or newer; {sys.executable} is Python {found}" in (
        done.stderr
    )
    assert not (checkout / ".venv").exists()
