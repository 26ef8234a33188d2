"""Tests of Benchmarks/compare's own behaviour, none of which sets up, builds or benchmarks anything.

Run: .venv/bin/python -m pytest Benchmarks/test_compare.py -q

- `--help` answers at once, with every option's range and default;
- bad arguments are refused by argparse before any set-up, build or store generation: a quick exit 2, a message
  naming the argument, no traceback, no new `.bench/store-*`;
- a failing `freshet-bench generate` or `freshet load` (fake ones here) ends with one line naming the step and its
  stderr, and neither a failure nor an interruption leaves a store directory behind that a later run would trust.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WRAPPER = HERE / "compare"
QUICK = 10.0  # seconds; set-up and builds alone take longer than this

sys.path.insert(0, str(HERE))
import compare  # noqa: E402


def stores() -> set[str]:
    return {path.name for path in (REPO / ".bench").glob("store-*")}


def run_wrapper(*arguments: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([str(WRAPPER), *arguments], capture_output=True, text=True, timeout=120)
    return result, time.monotonic() - started


# --------------------------------------------------------------------------------------------------------------------
# --help and bad arguments, through the wrapper users run


def test_help_answers_at_once():
    result, elapsed = run_wrapper("--help")
    assert result.returncode == 0, result.stderr
    assert elapsed < QUICK
    assert "setup:" not in result.stderr and "[compare]" not in result.stderr  # nothing set up or built
    for option, default in [("--keys N", "1000000"), ("--features N", "10"), ("--connections N", "4"),
                            ("--streams N", "8"), ("--runs N", "3")]:
        assert option in result.stdout
        assert f"(default {default})" in " ".join(result.stdout.split())
    assert "scripts/setup --bench" in result.stdout
    assert "redis-server" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--keys", "0"], "argument --keys: must be an integer from 1 to 100000000, not 0"),
    (["--keys", "-5"], "argument --keys: must be an integer from 1 to 100000000, not -5"),
    (["--keys", "100000001"], "argument --keys: must be an integer from 1 to 100000000, not 100000001"),
    (["--keys", "many"], "argument --keys: must be an integer from 1 to 100000000, not 'many'"),
    (["--features", "0"], "argument --features: must be an integer from 1 to 1000, not 0"),
    (["--features", "1001"], "argument --features: must be an integer from 1 to 1000, not 1001"),
    (["--connections", "0"], "argument --connections: must be an integer from 1 to 10000, not 0"),
    (["--connections", "10001"], "argument --connections: must be an integer from 1 to 10000, not 10001"),
    (["--streams", "0"], "argument --streams: must be an integer from 1 to 10000, not 0"),
    (["--streams", "10001"], "argument --streams: must be an integer from 1 to 10000, not 10001"),
    (["--runs", "2"], "argument --runs: must be an integer from 3 to 1000, not 2"),
    (["--out", "/nonexistent/dir/x.md"], "argument --out: directory /nonexistent/dir does not exist"),
    (["--out", "/proc/x.md"], "argument --out: cannot create a file in /proc"),
    (["--out", "/tmp"], "argument --out: /tmp is a directory"),
    (["--keys", "0", "--quick", "--features", "3"], "argument --keys"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_are_refused_before_any_work(arguments, message):
    before = stores()
    result, elapsed = run_wrapper(*arguments)
    assert result.returncode == 2, result.stderr
    assert elapsed < QUICK
    assert result.stdout == ""
    assert result.stderr.startswith("usage: Benchmarks/compare ")
    assert f"Benchmarks/compare: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "setup:" not in result.stderr and "[compare]" not in result.stderr
    assert stores() == before


def test_out_relative_to_the_callers_directory(tmp_path):
    result = subprocess.run([str(WRAPPER), "--out", "missing/x.md"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert f"directory {tmp_path / 'missing'} does not exist" in result.stderr


# --------------------------------------------------------------------------------------------------------------------
# The store cache, with fake freshet-bench and freshet binaries


def fake(path: Path, script: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + script)
    path.chmod(0o755)
    return path


GENERATE = """\
out="${@: -1}"
echo "id,f0" > "$out/items.csv"; echo '{}' > "$out/registry.json"; : > "$out/redis.txt"
"""
LOAD = """\
while [ $# -gt 0 ]; do [ "$1" = --data ] && data=$2; shift; done
mkdir -p "$data" && : > "$data/data.mdb"
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A Compare for 5 keys x 2 features whose work directory is tmp_path/work, and a directory for fakes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr(compare, "BENCH", fake(bin_dir / "freshet-bench", GENERATE))
    monkeypatch.setattr(compare, "FRESHET", fake(bin_dir / "freshet", LOAD))
    args = argparse.Namespace(quick=True, runs=3, keys=5, features=2, connections=4, streams=8, out=None)
    work = tmp_path / "work"
    return compare.Compare(args, work=work), work, bin_dir


def test_a_store_is_made_once_and_stamped(setup):
    bench, work, _ = setup
    store = bench.data()
    assert store == work / "store-5x2"
    assert sorted(path.name for path in work.iterdir()) == ["store-5x2"]
    assert (store / "loaded").read_text() == "ok\n" and (store / "data" / "data.mdb").exists()
    assert bench.data() == store  # cached: the fakes are not run again
    compare.BENCH.write_text("#!/bin/sh\nexit 1\n")
    assert bench.data() == store


@pytest.mark.parametrize("which, step", [("BENCH", "freshet-bench generate"), ("FRESHET", "freshet load")])
def test_a_failing_step_is_named_with_its_stderr_and_leaves_no_store(setup, which, step):
    bench, work, bin_dir = setup
    # generate's last argument is the directory it writes into: leave a half-written file there.
    fake(getattr(compare, which),
         '[ -d "${@: -1}" ] && echo half > "${@: -1}/items.csv"; echo "disk full" >&2; exit 3\n')
    with pytest.raises(compare.Failure) as failure:
        bench.data()
    assert failure.value.message.startswith(f"{step} failed (exit 3): ")
    assert failure.value.detail == "disk full"
    assert list(work.iterdir()) == []


def test_an_interrupted_load_leaves_no_store(setup, monkeypatch):
    bench, work, _ = setup
    real_run = compare.run

    def run(what, command, **options):
        if what == "freshet load":
            raise KeyboardInterrupt
        return real_run(what, command, **options)

    monkeypatch.setattr(compare, "run", run)
    with pytest.raises(KeyboardInterrupt):
        bench.data()
    assert list(work.iterdir()) == []


def test_an_unstamped_store_and_a_dead_runs_partial_one_are_replaced(setup):
    bench, work, _ = setup
    work.mkdir(exist_ok=True)
    (work / "store-5x2").mkdir()  # what a run of the old script left after a failed generate
    dead = subprocess.Popen(["true"])
    dead.wait()
    (work / f"store-5x2.partial-{dead.pid}-abc").mkdir()
    store = bench.data()
    assert (store / "loaded").exists()
    assert sorted(path.name for path in work.iterdir()) == ["store-5x2"]


def test_main_prints_one_line_and_the_stderr_without_a_traceback(setup, monkeypatch, capsys):
    _, work, _ = setup
    fake(compare.BENCH, "echo 'freshet-bench: cannot write items.csv' >&2; exit 1\n")
    monkeypatch.setattr(compare, "prepare", lambda: None)
    monkeypatch.setattr(compare.signal, "signal", lambda *_: None)  # main's SIGTERM handler is not for pytest
    monkeypatch.setattr(compare, "WORK", work)
    assert compare.main(["--keys", "5", "--features", "2"]) == 1
    lines = capsys.readouterr().err.splitlines()
    failures = [line for line in lines if not line.startswith("[compare]")]
    assert failures[0].startswith("Benchmarks/compare: freshet-bench generate failed (exit 1): ")
    assert failures[1:] == ["freshet-bench: cannot write items.csv"]
    assert list(work.iterdir()) == []


def test_a_missing_binary_is_named(setup, monkeypatch):
    bench, work, bin_dir = setup
    monkeypatch.setattr(compare, "BENCH", bin_dir / "absent")
    with pytest.raises(compare.Failure) as failure:
        bench.data()
    assert failure.value.message == f"freshet-bench generate could not start: {bin_dir / 'absent'} not found"
    assert list(work.iterdir()) == []


def test_a_server_interrupted_while_starting_is_stopped(tmp_path):
    # Regression: Ctrl-C (or SIGTERM) while a server was still starting left it running, since it was not yet in
    # the list of servers a run stops; a grpcio peer loading its CSV outlived the script.
    import os
    import signal

    pid_file = tmp_path / "pid"
    command = [sys.executable, "-c",
               f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]

    def interrupt(number, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            compare.Server("sleeper", command, tmp_path / "sleeper.log")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"the starting server (pid {pid}) was left running")
