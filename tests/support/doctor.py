"""OPNFV Doctor's own code (shared/peers/opnfv-doctor) and an environment to run it in.

Doctor's requirements are installed, once, into a virtualenv of its own keyed by the hash of
what goes into it (requirements, constraints, Python version), so a CI run pays the install
once and a change of pins builds a new one. ``flake8`` and ``virtualenv`` are left out: Doctor's
code does not import them (its README says so).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import REPO

CANDIDATES = [
    base / "shared" / "peers" / "opnfv-doctor" for base in (REPO.parent, REPO.parent.parent)
]
CONSTRAINTS = REPO / "tests" / "e2e" / "doctor" / "constraints.txt"
NOT_NEEDED = ("flake8", "virtualenv")


def doctor_dir() -> Path | None:
    return next((p for p in CANDIDATES if (p / "doctor_tests" / "main.py").is_file()), None)


def _requirements(doctor: Path) -> str:
    lines = []
    for line in (doctor / "requirements.txt").read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec and not spec.lower().startswith(NOT_NEEDED):
            lines.append(spec)
    return "\n".join(lines) + "\n"


def doctor_venv(doctor: Path) -> Path:
    """The Python of Doctor's environment, building it when its inputs changed."""
    requirements = _requirements(doctor)
    constraints = CONSTRAINTS.read_text()
    key = hashlib.sha256(f"{requirements}\0{constraints}\0{sys.version}".encode()).hexdigest()[:16]
    root = Path(os.environ.get("STATEWARD_DOCTOR_VENVS", tempfile.gettempdir()))
    venv = root / f"stateward-doctor-venv-{key}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"stateward-doctor-venv-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building the same one
        if done.is_file():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        (venv / "requirements.txt").write_text(requirements)
        (venv / "constraints.txt").write_text(constraints)
        result = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(venv / "requirements.txt"),
                "-c",
                str(venv / "constraints.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        if result.returncode != 0:
            raise RuntimeError(f"installing Doctor's requirements failed:\n{result.stderr[-4000:]}")
        done.write_text(requirements)
    return python
