"""The benchmark scripts still run and print what scripts read (never their timings)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from .helpers import database_url

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("DATABASE_URL", None)  # the script makes its own SQLite database
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bench_backend_prints_a_ratio_line_per_pattern_and_log_setting():
    output = run("bench_backend.py", "--messages", "40", "--rounds", "2")
    last = [line.split()[:3] for line in output.strip().splitlines()[-4:]]
    assert last == [
        ["ratio", "batch", "off"],
        ["ratio", "batch", "on"],
        ["ratio", "single", "off"],
        ["ratio", "single", "on"],
    ]


def test_probe_latency_reaches_the_expected_verdict_for_every_case():
    output = run("probe_latency.py", "--timeout", "0.5", "--repeat", "1", "--sends", "5")
    expected = {
        "connection refused": "connection_refused",
        "SSL/TLS on plain port": "ssl_on_plain_port",
        "wrong password (535)": "auth_failed",
        "421 greeting": "temporary_failure",
    }
    verdicts = {
        case: line[len(case) :].split()[0]
        for line in output.splitlines()
        for case in expected
        if line.startswith(case + " ")
    }
    assert verdicts == expected
    assert "overhead" in output


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the script fills PostgreSQL")
def test_bench_log_admin_prints_a_median_line_per_case():
    """On a database of its own, which it drops again."""
    base = database_url(connection).rsplit("/", 1)[0]
    output = run(
        "bench_log_admin.py",
        "--rows",
        "3000",
        "--runs",
        "1",
        "--database-url",
        f"{base}/smtpconfig_bench_{os.getpid()}",
    )
    cases = [line.split()[1] for line in output.splitlines() if line.startswith("median ")]
    assert cases == [
        "first_page",
        "filter_failed,_one_profile",
        "search_an_address",
        "search_a_Message-ID",
        "delete_profile_Main",
    ]


def test_bench_outbox_prints_the_request_cost_and_drain_ratio_lines():
    output = run(
        "bench_outbox.py", "--calls", "2", "--delays", "20", "--messages", "10", "--rounds", "1"
    )
    last = [line.split() for line in output.strip().splitlines()[-5:]]
    assert [line[:4] for line in last[:3]] == [
        ["request", "SQLite", "20", "queued"],
        ["request", "SQLite", "20", "smtpconfig"],
        ["request", "SQLite", "20", "django"],
    ]
    assert [line[:4] for line in last[3:]] == [
        ["ratio", "drain", "1", "SQLite"],
        ["ratio", "drain", "2", "SQLite"],
    ]


def test_bench_password_reset_prints_a_gap_per_backend():
    output = run("bench_password_reset.py", "--posts", "1", "--delay", "20")
    gaps = [line.split()[:2] for line in output.splitlines() if line.startswith("gap ")]
    assert gaps == [["gap", "queued"], ["gap", "smtpconfig"]]
    # Every post, known address or not, with either backend (a warm-up and one post each)
    # queued one task; no email is made in the request.
    assert "8 password-reset tasks and 0 outbox messages left queued" in output


def test_bench_rtt_prints_the_per_call_and_batch_ratios_last():
    output = run(
        "bench_rtt.py",
        "--delay",
        "1",
        "--calls",
        "3",
        "--messages",
        "5",
        "--rounds",
        "1",
        "--memory-sends",
        "20",
    )
    last = [line.split() for line in output.strip().splitlines()[-2:]]
    assert [line[:2] for line in last] == [["ratio", "per-call"], ["ratio", "batch"]]
    assert all(float(line[2]) > 0 for line in last)
    assert "memory, smtpconfig" in output


def test_bench_tls_modes_prints_what_implicit_tls_saves_last():
    output = run("bench_tls_modes.py", "--delay", "1", "--calls", "2", "--rounds", "1")
    rows = [line for line in output.splitlines() if "(587)" in line or "(465)" in line]
    # Both modes with both backends: every send went through (the script asserts each).
    assert len(rows) == 4
    assert output.strip().splitlines()[-1].startswith("implicit TLS saves ")
