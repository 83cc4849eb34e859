"""docs/deploy.md and the README's production start read as an operator copies them
(issue 16): the environment file means the same to systemd's `EnvironmentFile=`,
`docker run --env-file` and the shell; every variable they set is one the host project
reads; every `manage.py` command they give exists and takes the options given.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "deploy.md", ROOT / "README.md"]
#: Where the host project reads its environment.
READERS = [
    *sorted((ROOT / "mailsettings").rglob("*.py")),
    ROOT / "gunicorn.conf.py",
    ROOT / "Makefile",
    ROOT / "Dockerfile",
    *sorted((ROOT / "docker").glob("*")),
]
VARIABLE = re.compile(r"\b(?:DJANGO|GUNICORN|SMTPCONFIG|DATABASE|REDIS|HEALTHCHECK)_[A-Z0-9_]+\b")
#: `manage.py NAME --option ...` (not `manage.py  mailsettings/`, a file listing).
COMMAND = re.compile(r"manage\.py\s+([a-z_]+)(?![\w/])((?:\s+--?[a-z][\w-]*)*)")
OPTION = re.compile(r"--?[a-z][\w-]*")
#: Read by Django itself, not by the host project.
DJANGOS_OWN = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
    "DJANGO_SUPERUSER_EMAIL",
}


def code_blocks(path: Path) -> list[str]:
    """The fenced blocks' lines, without their fences."""
    blocks, current = [], None
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def environment_file() -> list[str]:
    """The lines of the documented /etc/mailsettings/env."""
    for block in code_blocks(ROOT / "docs" / "deploy.md"):
        lines = block.splitlines()
        if lines and lines[0] == "# /etc/mailsettings/env":
            return lines[1:]
    raise AssertionError("docs/deploy.md shows no /etc/mailsettings/env")


def test_the_environment_file_has_no_inline_comment_and_no_quotes():
    """systemd and docker keep whatever follows the '=' (a '# comment', quotes: docker)."""
    assignments = [line for line in environment_file() if line and not line.startswith("#")]
    assert assignments
    for line in assignments:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s#\"']+", line), line


def test_every_variable_the_docs_name_is_read_by_the_host_project():
    read = "\n".join(path.read_text() for path in READERS if path.is_file())
    named = {name for path in DOCS for name in VARIABLE.findall(path.read_text())}
    assert "DATABASE_URL" in named
    unknown = sorted(name for name in named - DJANGOS_OWN if name not in read)
    assert not unknown, f"named in the docs, read nowhere: {unknown}"


def documented_commands() -> dict[str, set[str]]:
    """{command: its --options} from every `manage.py ...` in the docs' code."""
    found: dict[str, set[str]] = {}
    for path in DOCS:
        text = path.read_text()
        code = [line.split(" #")[0] for block in code_blocks(path) for line in block.splitlines()]
        code += re.findall(r"`([^`\n]*manage\.py[^`\n]*)`", text)
        for line in code:
            for command, rest in COMMAND.findall(line):
                found.setdefault(command, set()).update(OPTION.findall(rest))
    return found


def test_every_documented_command_exists_with_the_options_given():
    """The host project's settings with RQ on, so that `rqworker` and `rqstats` exist."""
    commands = documented_commands()
    assert {"migrate", "smtp_rotate_key", "db_worker"} <= commands.keys()
    script = """
import json, sys
import django
django.setup()
from django.core.management import get_commands, load_command_class
documented = json.loads(sys.argv[1])
problems, available = [], get_commands()
for name, options in sorted(documented.items()):
    if name not in available:
        problems.append(f"no command {name}")
        continue
    parser = load_command_class(available[name], name).create_parser("manage.py", name)
    known = set(parser._option_string_actions)
    problems += [f"{name} has no {option}" for option in sorted(options) if option not in known]
print(json.dumps(problems))
"""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "SMTPCONFIG_", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="mailsettings.settings",
        DJANGO_TASKS_BACKEND="rq",
        DJANGO_SECRET_KEY="tests-only-not-secret",
        SMTPCONFIG_ENCRYPTION_KEYS="rGBX3Nd8y-iYnwZKCZTq3a6rzYN4b1J0uE0hZgEw-M0=",
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps({k: sorted(v) for k, v in commands.items()})],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _environment_names(path: Path) -> set[str]:
    """The environment variables ``path`` reads: ``os.environ.get("X")``, ``os.environ["X"]``,
    ``"X" in os.environ`` and the settings' ``_env_flag("X")`` / ``_env_int("X")``."""
    import ast

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            reads = (
                isinstance(func, ast.Attribute) and func.attr == "get" and is_environ(func.value)
            ) or (isinstance(func, ast.Name) and func.id in {"_env_flag", "_env_int"})
            argument = node.args[0]
        elif isinstance(node, ast.Subscript):
            reads, argument = is_environ(node.value), node.slice
        elif isinstance(node, ast.Compare) and len(node.comparators) == 1:
            reads, argument = is_environ(node.comparators[0]), node.left
        else:
            continue
        if reads and isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
    return names


def test_every_variable_the_host_project_reads_is_in_the_readmes_table():
    """Issue 16: every setting read from the environment is listed with its default."""
    readers = [*sorted((ROOT / "mailsettings").rglob("*.py")), ROOT / "gunicorn.conf.py"]
    read = set().union(*(_environment_names(path) for path in readers))
    assert {"DJANGO_SECRET_KEY", "GUNICORN_WORKERS", "SMTPCONFIG_ENCRYPTION_KEYS"} <= read
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Configuration (environment variables)")
    table = readme[start : readme.index("\n## ", start + 1)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(row.split(" | ")[0] for row in rows)))
    assert read - DJANGOS_OWN - listed == set()
