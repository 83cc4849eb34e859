"""The Dockerfile read as a build would read it (issue 16): no engine runs on the CI machine,
so what can be checked without one is checked here. It was built and run with podman on
a machine that has one (docs/deploy.md, "Container"); this keeps it true to the tree.
"""

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    joined, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "a continuation line runs off the end"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined]


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, pattern) or path.split("/")[0] == pattern for pattern in patterns
    )


def test_every_copied_path_exists_and_is_in_the_build_context():
    copies = [args for name, args in instructions() if name == "COPY"]
    assert copies
    for args in copies:
        *sources, _destination = shlex.split(args)
        for source in sources:
            if source.startswith("--"):
                continue
            assert (ROOT / source).exists(), source
            assert not ignored(source), f"{source} is excluded by .dockerignore"


def test_the_runtime_folder_keys_and_tests_stay_out_of_the_image():
    for path in ("var", ".venv", ".git", "tests", "var/encryption.key", "x.env"):
        assert ignored(path), path


def test_the_image_runs_as_a_user_that_is_not_root():
    steps = instructions()
    users = [args for name, args in steps if name == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, (name, _) in enumerate(steps) if name == "USER")
    commands = [i for i, (name, _) in enumerate(steps) if name in ("CMD", "ENTRYPOINT")]
    assert all(i > last_user for i in commands)


def test_no_secret_is_baked_into_the_image():
    for name, args in instructions():
        if name in ("ENV", "ARG"):
            assert not re.search(r"(SECRET_KEY|ENCRYPTION_KEYS|PASSWORD)=", args), args


def test_it_serves_with_gunicorn_conf_and_checks_healthz():
    steps = dict(instructions())
    assert "gunicorn.conf.py" in steps["CMD"]
    assert (ROOT / "gunicorn.conf.py").exists()
    healthcheck = steps["HEALTHCHECK"]
    script = re.search(r"/usr/local/bin/(\w+\.py)", healthcheck).group(1)
    assert "/healthz" in (ROOT / "docker" / script).read_text()
    entrypoint = re.search(r"/usr/local/bin/([\w.]+)", steps["ENTRYPOINT"]).group(1)
    assert (ROOT / "docker" / entrypoint).exists()


@pytest.mark.parametrize("extra", ["server", "postgres"])
def test_the_extras_it_installs_exist(extra):
    """The image installs the project with extras; one it names but pyproject lacks would
    install nothing (as psycopg once was missing)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf"^{extra}\s*=\s*\[", pyproject, re.MULTILINE), extra
    assert extra in " ".join(args for name, args in instructions() if name == "RUN")
