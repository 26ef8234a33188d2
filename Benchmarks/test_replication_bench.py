"""Tests of Benchmarks/replication's own behaviour, none of which sets up, builds, serves or pushes anything.

Run: .venv/bin/python -m pytest Benchmarks/test_replication_bench.py -q

- `--help` answers at once, with every option's range and default;
- bad arguments are refused by argparse before any set-up or build: a quick exit 2, a message naming the argument,
  no traceback, no scratch directory in `.bench/`;
- --quick changes the defaults but not what was given; --pin is refused where only one CPU may be used;
- the generated stream is seeded (a shorter one is a prefix of a longer one) and `freshet push`'s final line is read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WRAPPER = HERE / "replication"
QUICK = 10.0  # seconds; set-up and builds alone take longer than this

sys.path.insert(0, str(HERE))
import replication  # noqa: E402


def scratch() -> set[str]:
    return {path.name for path in (REPO / ".bench").glob("replication-*")}


def run_wrapper(*arguments: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([str(WRAPPER), *arguments], capture_output=True, text=True, timeout=120, cwd=cwd)
    return result, time.monotonic() - started


# --------------------------------------------------------------------------------------------------------------------
# --help and bad arguments, through the wrapper users run


def test_help_answers_at_once():
    result, elapsed = run_wrapper("--help")
    assert result.returncode == 0, result.stderr
    assert elapsed < QUICK
    assert "setup:" not in result.stderr and "[replication]" not in result.stderr  # nothing set up or built
    text = " ".join(result.stdout.split())
    for option in ["--quick", "--runs N", "--updates N", "--keys N", "--rate REQ/S", "--lookup-batch N",
                   "--duration SECONDS", "--pin", "--out FILE"]:
        assert option in result.stdout
    for default in ["(default 3, or 1 with --quick)", "(default 200000, or 100000 with --quick)", "(default 50000)",
                    "(default 2000)", "(default 10)", "(default 10, or 3 with --quick)"]:
        assert default in text
    assert "scripts/setup --bench" in text


@pytest.mark.parametrize("arguments, message", [
    (["--runs", "2"], "argument --runs: must be an integer from 3 to 1000, not 2"),
    (["--runs", "lots"], "argument --runs: must be an integer from 3 to 1000, not 'lots'"),
    (["--updates", "999"], "argument --updates: must be an integer from 1000 to 10000000, not 999"),
    (["--updates", "10000001"], "argument --updates: must be an integer from 1000 to 10000000, not 10000001"),
    (["--keys", "0"], "argument --keys: must be an integer from 1 to 10000000, not 0"),
    (["--rate", "0"], "argument --rate: must be an integer from 1 to 1000000, not 0"),
    (["--rate", "2.5"], "argument --rate: must be an integer from 1 to 1000000, not '2.5'"),
    (["--lookup-batch", "10001"], "argument --lookup-batch: must be an integer from 1 to 10000, not 10001"),
    (["--duration", "0"], "argument --duration: must be an integer from 1 to 600, not 0"),
    (["--duration", "10s"], "argument --duration: must be an integer from 1 to 600, not '10s'"),
    (["--out", "/nonexistent/dir/x.md"], "argument --out: directory /nonexistent/dir does not exist"),
    (["--out", "/tmp"], "argument --out: /tmp is a directory"),
    (["--quick", "--keys", "-1"], "argument --keys"),
    (["--sync", "none"], "unrecognized arguments: --sync none"),
])
def test_bad_arguments_are_refused_before_any_work(arguments, message):
    before = scratch()
    result, elapsed = run_wrapper(*arguments)
    assert result.returncode == 2, result.stderr
    assert elapsed < QUICK
    assert result.stdout == ""
    assert result.stderr.startswith("usage: Benchmarks/replication ")
    assert f"Benchmarks/replication: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "setup:" not in result.stderr and "[replication]" not in result.stderr
    assert scratch() == before


def test_out_relative_to_the_callers_directory(tmp_path):
    result, _ = run_wrapper("--out", "missing/x.md", cwd=tmp_path)
    assert result.returncode == 2
    assert f"directory {tmp_path / 'missing'} does not exist" in result.stderr


# --------------------------------------------------------------------------------------------------------------------
# Settings, in-process


def test_quick_changes_defaults_but_not_what_is_given():
    full = replication.parse([])
    assert (full.runs, full.updates, full.duration, full.warmup, full.batch1_updates) == (3, 200_000, 10, 2, 50_000)
    quick = replication.parse(["--quick"])
    assert (quick.runs, quick.updates, quick.duration, quick.warmup) == (1, 100_000, 3, 1)
    given = replication.parse(["--quick", "--runs", "5", "--updates", "4000", "--duration", "7"])
    assert (given.runs, given.updates, given.duration, given.batch1_updates) == (5, 4000, 7, 1000)


def test_pin_needs_two_cpus(monkeypatch, capsys):
    monkeypatch.setattr(replication.os, "sched_getaffinity", lambda _: {0})
    with pytest.raises(SystemExit) as exit:
        replication.parse(["--pin"])
    assert exit.value.code == 2
    assert "--pin needs at least 2 CPUs" in capsys.readouterr().err
    monkeypatch.setattr(replication.os, "sched_getaffinity", lambda _: {0, 1})
    assert replication.parse(["--pin"]).pin


def test_main_refuses_bad_arguments_before_setting_up(monkeypatch):
    def prepare(_):
        raise AssertionError("set-up ran")

    monkeypatch.setattr(replication, "prepare", prepare)
    with pytest.raises(SystemExit) as exit:
        replication.main(["--runs", "1"])
    assert exit.value.code == 2


def test_windows_are_deep_for_batch_1_only():
    assert [replication.window_for(batch) for batch in replication.BATCHES] == [64, 8, 8]


# --------------------------------------------------------------------------------------------------------------------
# The generated data and freshet push's output


def test_the_stream_is_seeded_and_a_shorter_one_is_a_prefix(tmp_path):
    replication.write_stream(tmp_path / "long.jsonl", 2000, 50, seed=7)
    replication.write_stream(tmp_path / "short.jsonl", 500, 50, seed=7)
    replication.write_stream(tmp_path / "other.jsonl", 500, 50, seed=8)
    long = (tmp_path / "long.jsonl").read_text().splitlines()
    short = (tmp_path / "short.jsonl").read_text().splitlines()
    assert long[:500] == short
    assert (tmp_path / "other.jsonl").read_text().splitlines() != short
    rows = [json.loads(line) for line in long]
    keys = {replication.key_of(index) for index in range(50)}
    assert all(row["entity"][replication.KEY] in keys for row in rows)
    deletes = [row for row in rows if row.get("op") == "delete"]
    assert 0 < len(deletes) < 100 and all("features" not in row for row in deletes)
    upserts = [row for row in rows if "features" in row]
    assert set(upserts[0]["features"]) == {"score", "clicks", "country", "active"}
    times = [row["event_time"] for row in rows]
    assert times != sorted(times)  # some arrive out of order
    assert times[-1] > times[0]


def test_registry_prefill_and_requests_agree(tmp_path):
    registry = replication.registry()
    view = registry["feature_views"][0]
    assert view["name"] == replication.VIEW
    assert registry["entities"][0]["join_keys"] == [{"name": replication.KEY, "type": "int64"}]
    assert registry["feature_services"][0]["name"] == replication.SERVICE
    replication.write_prefill(tmp_path / "prefill.jsonl", 3)
    replication.write_requests(tmp_path / "requests.jsonl", 3)
    prefill = [json.loads(line) for line in (tmp_path / "prefill.jsonl").read_text().splitlines()]
    requests = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert [row["entity"] for row in prefill] == [request["entities"] for request in requests]
    assert set(prefill[0]["features"]) == {feature["name"] for feature in view["features"]}


def test_the_final_push_line_is_read():
    output = ("push: 200000 updates of view profile from u.jsonl, source 'bench', to 1 server(s)\n"
              "push: 127.0.0.1:1: 197000/200000 acked (195520 updates/s)\n"
              "push: 127.0.0.1:1: done: position 200000 of 200000 (source totals: written 199831, superseded 169, duplicates "
              "skipped 0) in 1.250 s\n")
    result = replication.parse_done(output)
    assert (result.total, result.position, result.written, result.superseded) == (200_000, 200_000, 199_831, 169)
    assert result.seconds == 1.25 and result.rate == 160_000
    assert replication.parse_done(output.rsplit("\n", 2)[0]) is None


def test_load_stream_covers_the_lookups_with_room():
    options = replication.parse(["--quick"])
    bench = object.__new__(replication.Replication)
    bench.options = options
    assert bench.load_stream_size(100_000) == 900_000  # (1 + 3 + 2) s x 1.5 x 100,000
    assert bench.load_stream_size(1) == options.updates
    assert bench.load_stream_size(1e9) == replication.MAX_LOAD_STREAM
