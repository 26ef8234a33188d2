#!/usr/bin/env python3
# Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
#
# Measures Freshet's write path (freshet push -> freshet.v1.Replication) and what it does to lookup latency, on one
# machine, and prints one Markdown table per part. Started by Benchmarks/replication; see Benchmarks/README.md. It
# checks its arguments first (and answers --help) before it installs or builds anything, then runs
# scripts/setup --bench and the release builds (compare.py's `prepare`), then measures. Standard library only.
"""Replication benchmark: updates/s applied through `freshet push`, and lookup latency while replication runs.

Part 1: updates per second applied, `freshet serve --sync full` (each ack waits for fsync) against `--sync none`,
at 1, 100 and 1000 updates per batch (`freshet push --batch-rows`). Each run gets a fresh server on a fresh data
directory; the rate is the stream's updates divided by the seconds `freshet push` reports (from the first send to
the last ack, after the file was parsed).

Part 2: GetFeatures latency (freshet-bench grpc, open loop at a fixed rate) on a store prefilled with every key,
idle and then while a `freshet push` of a large stream (batch 1000) runs flat out against the same server
(--sync full).

The data is a seeded, generated JSONL stream over int64 keys (upserts of four features of mixed types, 2% deletes,
event times mostly rising with some out of order), written with its registry into a scratch directory under .bench/
that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the shared helpers: Failure, run, Server, pinned, prepare, argument types)
from compare import Failure, Server, exit_status, integer, output_file, pinned, tail  # noqa: E402

REPO = compare.REPO
WORK = compare.WORK
PROG = "Benchmarks/replication"

BATCHES = (1, 100, 1000)
SYNCS = ("full", "none")
# Batches in flight per push. One update per batch is otherwise bound by the round trip (and, with --sync full, by
# one fsync per batch), so batch 1 gets a deep window; bigger batches get freshet push's default.
WINDOWS = {1: 64, 100: 8, 1000: 8}
# The batch-1 stream is this fraction of --updates, so that its runs take seconds rather than minutes.
BATCH1_SHARE = 4

VIEW = "profile"
SERVICE = "ranker"
KEY = "user_id"
SOURCE = "bench"
# Event times of the streams start here; the prefilled rows of part 2 are a day older.
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Argument ranges.
UPDATES = (1_000, 10_000_000)
KEYS = (1, 10_000_000)
RATE = (1, 1_000_000)
LOOKUP_BATCH = (1, 10_000)
DURATION = (1, 600)
RUNS = (3, 1000)
# The most updates part 2's stream may hold (freshet push keeps the whole parsed file in memory: about 0.5 GiB per
# million updates).
MAX_LOAD_STREAM = 5_000_000

DONE = re.compile(r"push: (\S+): done: position (\d+) of (\d+) \((?:source totals: )?written (\d+), superseded (\d+), "
                  r"duplicates skipped (\d+)\) in ([\d.]+) s")
PROGRESS = re.compile(r"push: \S+: (\d+)/(\d+) acked")
HEADER = re.compile(r"push: (\d+) updates of view ")


def log(message: str) -> None:
    print(f"[replication] {message}", file=sys.stderr, flush=True)


# MARK: data


def registry() -> dict:
    return {
        "description": "Benchmarks/replication: one int64-keyed view of four features of mixed types.",
        "entities": [{"name": "user", "join_keys": [{"name": KEY, "type": "int64"}]}],
        "feature_views": [{"name": VIEW, "entity": "user", "features": [
            {"name": "score", "type": "double"}, {"name": "clicks", "type": "int64"},
            {"name": "country", "type": "string"}, {"name": "active", "type": "bool"}]}],
        "feature_services": [{"name": SERVICE, "views": [
            {"view": VIEW, "features": ["score", "clicks", "country", "active"]}]}],
    }


def key_of(index: int) -> int:
    """The int64 key of key number `index` (0-based): spread over a wide range, not 0..N."""
    return 1_000_000_007 + index * 7_919


class _Times:
    """ISO 8601 texts of whole seconds after EPOCH, memoised (a stream has about one distinct time per 10 updates)."""

    def __init__(self, base: datetime):
        self.base = base
        self.cache: dict[int, str] = {}

    def __call__(self, seconds: int) -> str:
        text = self.cache.get(seconds)
        if text is None:
            text = (self.base + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[seconds] = text
        return text


COUNTRIES = ("US", "DE", "FR", "JP", "BR", "IN", "GB", "NG")


def write_stream(path: Path, updates: int, keys: int, seed: int) -> None:
    """Writes `updates` JSONL updates of random keys out of `keys`: the same seed gives the same stream, and a shorter
    stream of the same seed is a prefix of a longer one.

    About 10 updates per second of event time, each up to 30 s earlier than that (so some arrive out of order and
    lose to a newer one already applied); 2% are deletes.
    """
    import random
    rng = random.Random(seed)
    rand = rng.random
    at = _Times(EPOCH)
    with open(path, "w", buffering=1 << 20) as out:
        write = out.write
        for index in range(updates):
            key = key_of(int(rand() * keys))
            when = at(index // 10 - int(rand() * 30))
            if rand() < 0.02:
                write(f'{{"entity":{{"{KEY}":{key}}},"event_time":"{when}","op":"delete"}}\n')
            else:
                write(f'{{"entity":{{"{KEY}":{key}}},"event_time":"{when}","features":{{"score":{rand() * 100:.3f},'
                      f'"clicks":{int(rand() * 100_000)},"country":"{COUNTRIES[int(rand() * 8)]}",'
                      f'"active":{"true" if rand() < 0.5 else "false"}}}}}\n')


def write_prefill(path: Path, keys: int) -> None:
    """One row per key, a day before the streams' event times (for freshet load)."""
    when = (EPOCH - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(path, "w", buffering=1 << 20) as out:
        for index in range(keys):
            out.write(f'{{"entity":{{"{KEY}":{key_of(index)}}},"event_time":"{when}","features":{{"score":0.5,'
                      f'"clicks":{index % 1000},"country":"US","active":true}}}}\n')


def write_requests(path: Path, keys: int) -> None:
    """Every key once, in freshet-bench's --requests format; freshet-bench draws its batches from these rows."""
    with open(path, "w", buffering=1 << 20) as out:
        for index in range(keys):
            out.write(f'{{"entities":{{"{KEY}":{key_of(index)}}}}}\n')


# MARK: processes


@dataclass
class PushResult:
    total: int
    position: int
    written: int
    superseded: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else math.inf


def parse_done(output: str) -> PushResult | None:
    """The figures of `freshet push`'s final `done:` line, or None when it has none."""
    for line in reversed(output.splitlines()):
        match = DONE.search(line)
        if match:
            return PushResult(total=int(match.group(3)), position=int(match.group(2)), written=int(match.group(4)),
                              superseded=int(match.group(5)), seconds=float(match.group(7)))
    return None


def window_for(batch: int) -> int:
    return WINDOWS.get(batch, 8)


class Push:
    """A `freshet push` running in the background, its stdout read line by line (with the time each line came)."""

    def __init__(self, command: list[str], log_path: Path):
        self.command = command
        self.log_path = log_path
        self.errors = open(log_path, "w")
        self.lines: list[tuple[float, str]] = []
        self.parsed = threading.Event()  # the header line: the file is parsed and sending starts
        self.finished_at: float | None = None
        try:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.errors, text=True)
        except FileNotFoundError as error:
            self.errors.close()
            raise Failure(f"freshet push could not start: {error.filename or command[0]} not found") from None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            now = time.monotonic()
            self.lines.append((now, line.rstrip("\n")))
            if HEADER.match(line):
                self.parsed.set()
            if DONE.search(line):
                self.finished_at = now
        self.parsed.set()  # the process ended (maybe before its header): nobody waits any longer

    def wait_parsed(self, timeout: float) -> None:
        parsed = self.parsed.wait(timeout)
        if not parsed or (self.process.poll() is not None and not self.started()):
            self.stop()
            raise Failure(f"freshet push did not start sending ({shlex.join(self.command)}); its stderr:",
                          self.stderr())

    def started(self) -> bool:
        return any(HEADER.match(line) for _, line in self.lines)

    def progress(self) -> list[tuple[float, int]]:
        """(time, updates acked) from the progress lines (one a second) and the final line."""
        samples = []
        for moment, line in self.lines:
            match = PROGRESS.search(line)
            if match:
                samples.append((moment, int(match.group(1))))
            done = DONE.search(line)
            if done:
                samples.append((moment, int(done.group(2))))
        return samples

    def stderr(self) -> str:
        self.errors.flush()
        return tail(self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)
        if not self.errors.closed:
            self.errors.close()


# MARK: the benchmark


@dataclass
class Lookup:
    """One freshet-bench open-loop run."""
    p50: float
    p99: float
    p999: float
    max: float
    achieved: float
    errors: int
    replication: float | None = None  # updates/s acked during the measured time (under replication only)
    coverage: float | None = None  # share of the measured time replication ran (under replication only)


@dataclass
class Settings:
    quick: bool
    runs: int
    updates: int
    keys: int
    rate: int
    lookup_batch: int
    duration: int
    warmup: int
    pin: bool
    out: Path | None = None
    seed: int = 1

    @property
    def batch1_updates(self) -> int:
        return max(1, self.updates // BATCH1_SHARE)


def settings(args: argparse.Namespace) -> Settings:
    """The figures a run uses: --quick changes the defaults, never what was given explicitly."""
    return Settings(
        quick=args.quick,
        runs=args.runs if args.runs is not None else (1 if args.quick else 3),
        updates=args.updates if args.updates is not None else (100_000 if args.quick else 200_000),
        keys=args.keys, rate=args.rate, lookup_batch=args.lookup_batch,
        duration=args.duration if args.duration is not None else (3 if args.quick else 10),
        warmup=1 if args.quick else 2, pin=args.pin, out=args.out)


class Replication:
    def __init__(self, options: Settings, work: Path | None = None):
        self.options = options
        self.server_cpu, self.client_cpu = compare.cpus() if options.pin else ("", "")
        root = work or WORK
        root.mkdir(exist_ok=True)
        for leftover in root.glob("replication-*"):
            pid = leftover.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(leftover, ignore_errors=True)
        # Everything of this run (streams, stores, logs) lives here and is removed at the end.
        self.work = Path(tempfile.mkdtemp(prefix=f"replication-{os.getpid()}-", dir=root))
        self.registry = self.work / "registry.json"
        self.processes: list = []  # every Server and Push started and not yet stopped

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        shutil.rmtree(self.work, ignore_errors=True)

    # MARK: servers and pushes

    def serve(self, data: Path, sync: str, name: str) -> Server:
        command = [str(compare.FRESHET), "serve", "--data", str(data), "--registry", str(self.registry),
                   "--listen", "127.0.0.1:0", "--sync", sync]
        if self.options.pin:
            command += ["--threads", "1"]
        server = Server(f"freshet serve --sync {sync}", pinned(self.server_cpu, command), self.work / f"{name}.log")
        self.processes.append(server)
        return server

    def stop(self, process) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def push_command(self, address: str, stream: Path, batch: int, source: str = SOURCE) -> list[str]:
        return pinned(self.client_cpu, [
            str(compare.FRESHET), "push", "--server", address, "--source", source, "--registry", str(self.registry),
            "--view", VIEW, "--jsonl", str(stream), "--batch-rows", str(batch), "--window", str(window_for(batch))])

    # MARK: part 1

    def throughput(self, streams: dict[int, Path]) -> dict[tuple[str, int], list[PushResult]]:
        """Every (sync, batch) config `runs` times, the configs interleaved so that drift hits all alike."""
        results: dict[tuple[str, int], list[PushResult]] = {(sync, batch): [] for sync in SYNCS for batch in BATCHES}
        for index in range(self.options.runs):
            for sync in SYNCS:
                for batch in BATCHES:
                    data = self.work / "data-throughput"
                    shutil.rmtree(data, ignore_errors=True)
                    server = self.serve(data, sync, f"serve-{sync}-{batch}")
                    try:
                        command = self.push_command(server.address, streams[batch], batch)
                        output = compare.run(f"freshet push (sync {sync}, batch {batch})", command,
                                             capture=True, timeout=1800).stdout
                    finally:
                        self.stop(server)
                        shutil.rmtree(data, ignore_errors=True)
                    result = parse_done(output)
                    expected = self.options.batch1_updates if batch == 1 else self.options.updates
                    if result is None or result.position != expected or result.total != expected:
                        raise Failure(f"freshet push (sync {sync}, batch {batch}) did not report every update "
                                      f"applied: {shlex.join(command)}", tail(output))
                    results[(sync, batch)].append(result)
                    log(f"sync {sync} batch {batch} window {window_for(batch)} run {index + 1}: "
                        f"{result.rate:,.0f} updates/s ({result.total:,} in {result.seconds:.3f} s, "
                        f"{result.superseded:,} superseded)")
        return results

    # MARK: part 2

    def lookups(self, address: str, requests: Path) -> Lookup:
        command = [str(compare.BENCH), "grpc", "--server", address, "--requests", str(requests),
                   "--service", SERVICE, "--batch", str(self.options.lookup_batch), "--rate", str(self.options.rate),
                   "--duration", f"{self.options.duration}s", "--warmup", f"{self.options.warmup}s", "--json"]
        result = compare.run_json("freshet-bench grpc", pinned(self.client_cpu, command))
        latency = result["latency_us"]
        return Lookup(p50=latency["p50"], p99=latency["p99"], p999=latency["p999"], max=latency["max"],
                      achieved=result["completed_per_s"], errors=sum(result["errors"].values()))

    def latency(self, template: Path, requests: Path, stream: Path) -> list[tuple[Lookup, Lookup]]:
        runs = []
        for index in range(self.options.runs):
            data = self.work / "data-latency"
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(template, data)
            server = self.serve(data, "full", f"serve-latency-{index + 1}")
            push = None
            try:
                idle = self.lookups(server.address, requests)
                log(f"lookups idle run {index + 1}: p50 {idle.p50:,.0f} µs, p99 {idle.p99:,.0f} µs, "
                    f"p99.9 {idle.p999:,.0f} µs, {idle.achieved:,.0f} req/s, errors {idle.errors}")
                push = Push(self.push_command(server.address, stream, 1000), self.work / f"push-{index + 1}.log")
                self.processes.append(push)
                push.wait_parsed(timeout=600)
                started = time.monotonic()
                loaded = self.lookups(server.address, requests)
                window = (started + self.options.warmup, started + self.options.warmup + self.options.duration)
                if push.process.poll() is not None and push.finished_at is None:
                    raise Failure(f"freshet push failed ({exit_status(push.process.returncode)}) while lookups ran: "
                                  f"{shlex.join(push.command)}", push.stderr())
                loaded.coverage, loaded.replication = self.overlap(push, window)
            finally:
                if push is not None:
                    self.stop(push)
                self.stop(server)
                shutil.rmtree(data, ignore_errors=True)
            log(f"lookups under replication run {index + 1}: p50 {loaded.p50:,.0f} µs, p99 {loaded.p99:,.0f} µs, "
                f"p99.9 {loaded.p999:,.0f} µs, {loaded.achieved:,.0f} req/s, errors {loaded.errors}; replication "
                f"{loaded.replication or 0:,.0f} updates/s, running {loaded.coverage:.0%} of the measured time")
            if loaded.coverage < 1:
                log("WARNING: the push ended before the lookups did (a faster machine than its size assumed)")
            runs.append((idle, loaded))
        return runs

    @staticmethod
    def overlap(push: Push, window: tuple[float, float]) -> tuple[float, float | None]:
        """(share of the measured time the push was still sending, updates/s it had acked over that time)."""
        begin, end = window
        finished = push.finished_at if push.finished_at is not None else math.inf
        coverage = max(0.0, min(end, finished) - begin) / (end - begin)
        samples = push.progress()
        inside = [sample for sample in samples if begin - 0.5 <= sample[0] <= end + 0.5]
        rate = None
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            rate = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
        return coverage, rate

    # MARK: the run

    def run(self) -> str:
        options = self.options
        (self.work / "registry.json").write_text(json.dumps(registry(), indent=1) + "\n")
        log(f"generating the update streams: {options.updates:,} updates over {options.keys:,} int64 keys "
            f"(batch 1: the first {options.batch1_updates:,}), seed {options.seed}, in {self.work}")
        write_stream(self.work / "updates.jsonl", options.updates, options.keys, options.seed)
        write_stream(self.work / "updates-batch1.jsonl", options.batch1_updates, options.keys, options.seed)
        streams = {1: self.work / "updates-batch1.jsonl", 100: self.work / "updates.jsonl",
                   1000: self.work / "updates.jsonl"}
        log("part 1: updates/s by --sync and batch size")
        throughput = self.throughput(streams)

        log("part 2: lookup latency, idle and under replication")
        template = self.work / "prefilled"
        write_prefill(self.work / "prefill.jsonl", options.keys)
        write_requests(self.work / "requests.jsonl", options.keys)
        compare.run("freshet load", [str(compare.FRESHET), "load", "--data", str(template), "--registry",
                                     str(self.registry), "--view", VIEW, "--jsonl", str(self.work / "prefill.jsonl")])
        # The push must outlast the lookups' warm-up and measured time; size it from part 1's rate, with room.
        rate = statistics.median(result.rate for result in throughput[("full", 1000)])
        load_updates = self.load_stream_size(rate)
        log(f"generating the replication load: {load_updates:,} updates (enough for {options.warmup + options.duration}"
            f" s at 1.5 x the {rate:,.0f} updates/s of part 1)")
        write_stream(self.work / "load.jsonl", load_updates, options.keys, options.seed + 1)
        latency = self.latency(template, self.work / "requests.jsonl", self.work / "load.jsonl")
        return self.report(throughput, latency, load_updates)

    def load_stream_size(self, rate: float) -> int:
        seconds = self.options.warmup + self.options.duration + 2
        return max(self.options.updates, min(MAX_LOAD_STREAM, math.ceil(rate * seconds * 1.5 / 1000) * 1000))

    # MARK: the report

    def machine(self) -> list[str]:
        model = "unknown CPU"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
        filesystem = subprocess.run(["df", "--output=fstype,source", str(self.work)], capture_output=True,
                                    text=True).stdout.split()[2:]
        pin = (f"freshet serve pinned to CPU {self.server_cpu} with --threads 1, freshet push and freshet-bench "
               f"to CPU {self.client_cpu}" if self.options.pin else
               "nothing pinned: the server (one event loop thread per CPU, plus its writer thread), freshet push "
               "and freshet-bench share every CPU")
        return [
            f"- machine: {model}, {os.cpu_count()} CPUs, {memory // 1024} GiB, {platform.system()} "
            f"{platform.release()}; data directories on {' '.join(filesystem) or 'an unknown file system'}",
            f"- toolchain: {swift[0] if swift else 'swift ?'}",
            f"- cores: {pin}",
            f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
            + (", quick mode" if self.options.quick else ""),
        ]

    def report(self, throughput, latency, load_updates: int) -> str:
        options = self.options
        runs = f"median of {options.runs} runs" if options.runs > 1 else "1 run"
        lines = ["# Replication benchmark", "",
                 "Produced by `Benchmarks/replication" + (" --quick" if options.quick else "") + "`.", ""]
        lines += self.machine()
        lines += ["", "## Updates applied per second (freshet push -> freshet serve)", "",
                  f"A generated stream of {options.updates:,} updates (batch 1: its first {options.batch1_updates:,}) "
                  f"over {options.keys:,} int64 keys, 2% deletes, some out of order. Each run: a fresh server on a "
                  f"fresh data directory, one `freshet push --batch-rows B --window W`; updates/s is the stream's "
                  f"updates over the seconds the push reports (first send to last ack). {runs.capitalize()}.", "",
                  "| --sync | batch rows | window | updates | updates/s | runs (updates/s) | vs --sync full |",
                  "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
        medians = {config: statistics.median(result.rate for result in results)
                   for config, results in throughput.items()}
        for sync in SYNCS:
            for batch in BATCHES:
                results = throughput[(sync, batch)]
                every = ", ".join(f"{result.rate:,.0f}" for result in results)
                versus = medians[(sync, batch)] / medians[("full", batch)]
                lines.append(f"| {sync} | {batch} | {window_for(batch)} | {results[0].total:,} | "
                             f"{medians[(sync, batch)]:,.0f} | {every} | {versus:.2f}x |")

        def med(values):
            values = [value for value in values if value is not None]
            return statistics.median(values) if values else None

        idle = [pair[0] for pair in latency]
        loaded = [pair[1] for pair in latency]
        lines += ["", "## Lookup latency, idle and under replication (--sync full)", "",
                  f"A store prefilled with all {options.keys:,} keys (`freshet load`). `freshet-bench grpc` in an "
                  f"open loop at {options.rate:,} req/s, {options.lookup_batch} keys per GetFeatures request drawn "
                  f"uniformly from the same keys, 4 connections x 8 streams, {options.warmup} s warm-up then "
                  f"{options.duration} s measured; first with the server idle, then while `freshet push "
                  f"--batch-rows 1000 --window 8` streams {load_updates:,} updates into it flat out (the lookups "
                  f"start once the push has parsed its file). Latency is from each request's intended send time. "
                  f"Each run has a fresh server on a copy of the prefilled store; {runs}.", "",
                  "| lookups | p50 µs | p99 µs | p99.9 µs | max µs | achieved req/s | errors | replication updates/s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

        def row(label: str, values: list[Lookup]) -> tuple[str, dict]:
            figures = {name: med(getattr(value, name) for value in values)
                       for name in ("p50", "p99", "p999", "max", "achieved", "replication")}
            replication = "" if figures["replication"] is None else f"{figures['replication']:,.0f}"
            return (f"| {label} | {figures['p50']:,.0f} | {figures['p99']:,.0f} | {figures['p999']:,.0f} | "
                    f"{figures['max']:,.0f} | {figures['achieved']:,.0f} | {max(v.errors for v in values)} | "
                    f"{replication} |"), figures

        idle_row, idle_figures = row("idle", idle)
        loaded_row, loaded_figures = row("under replication", loaded)
        lines += [idle_row, loaded_row]
        ratio = {name: loaded_figures[name] / idle_figures[name] if idle_figures[name] else math.inf
                 for name in ("p50", "p99", "p999", "max")}
        lines.append(f"| under replication / idle | {ratio['p50']:.2f}x | {ratio['p99']:.2f}x | {ratio['p999']:.2f}x "
                     f"| {ratio['max']:.2f}x | | | |")
        if options.runs > 1:
            lines += ["", "Every run (p50 / p99 / p99.9 µs):", ""]
            for index, (quiet, busy) in enumerate(latency):
                lines.append(f"- run {index + 1}: idle {quiet.p50:,.0f} / {quiet.p99:,.0f} / {quiet.p999:,.0f}; "
                             f"under replication {busy.p50:,.0f} / {busy.p99:,.0f} / {busy.p999:,.0f} "
                             f"({(busy.replication or 0):,.0f} updates/s)")
        short = [busy.coverage for busy in loaded if busy.coverage < 1]
        if short:
            lines += ["", f"WARNING: in {len(short)} run(s) the push ended before the lookups' measured time did "
                          f"(it ran {min(short):.0%} of it at worst), so part of that time was idle."]
        if any(value.errors for value in idle + loaded):
            lines += ["", "WARNING: some lookups failed (see the errors column)."]
        lines += ["", f"replication: sync full batch 1000: {medians[('full', 1000)]:,.0f} updates/s; "
                      f"lookup p99 under replication / idle: {ratio['p99']:.2f}x"]
        return "\n".join(lines) + "\n"


# MARK: arguments


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Arguments are checked first. Then it runs scripts/setup --bench (apt-get installs whatever is missing\n"
               "of Freshet's build packages and of redis-server, redis-tools, util-linux and procps; root or sudo\n"
               "when one is missing) and builds .build/release/freshet and .build/release/freshet-bench\n"
               "(swift build -c release). See Benchmarks/README.md.")
    result.add_argument("--quick", action="store_true",
                        help="1 run each, 100,000 updates and 3 s of lookups unless given (under 2 minutes)")
    result.add_argument("--runs", type=integer(*RUNS), metavar="N",
                        help=f"runs per figure, {RUNS[0]} to {RUNS[1]:,}; the median is reported (default 3, "
                             f"or 1 with --quick)")
    result.add_argument("--updates", type=integer(*UPDATES), metavar="N",
                        help=f"updates in part 1's stream, {UPDATES[0]:,} to {UPDATES[1]:,} (default 200000, or "
                             f"100000 with --quick); batch 1 sends the first quarter of them")
    result.add_argument("--keys", type=integer(*KEYS), default=50_000, metavar="N",
                        help=f"distinct int64 keys updated and looked up, {KEYS[0]} to {KEYS[1]:,} "
                             f"(default %(default)s)")
    result.add_argument("--rate", type=integer(*RATE), default=2000, metavar="REQ/S",
                        help=f"lookup requests per second of part 2 (open loop), {RATE[0]} to {RATE[1]:,} "
                             f"(default %(default)s)")
    result.add_argument("--lookup-batch", type=integer(*LOOKUP_BATCH), default=10, metavar="N",
                        help=f"keys per lookup request, {LOOKUP_BATCH[0]} to {LOOKUP_BATCH[1]:,} (default %(default)s)")
    result.add_argument("--duration", type=integer(*DURATION), metavar="SECONDS",
                        help=f"measured seconds of each lookup run, {DURATION[0]} to {DURATION[1]} (default 10, "
                             f"or 3 with --quick)")
    result.add_argument("--pin", action="store_true",
                        help="pin freshet serve (with --threads 1) to one CPU and freshet push and freshet-bench to "
                             "another (taskset); needs 2 CPUs")
    result.add_argument("--out", type=output_file, metavar="FILE",
                        help="also write the Markdown report to this file; its directory must exist")
    return result


def parse(argv: list[str] | None = None) -> Settings:
    """The checked arguments, or exit 2 with argparse's message (nothing set up or built yet)."""
    command = parser()
    args = command.parse_args(argv)
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        command.error("--pin needs at least 2 CPUs to run on, and this process may use only 1")
    return settings(args)


def prepare(options: Settings) -> None:
    """compare.py's set-up and builds, its progress lines tagged [replication]."""
    original = compare.log
    compare.log = log
    try:
        compare.prepare()
    finally:
        compare.log = original
    if options.pin and not shutil.which("taskset"):
        raise Failure("taskset is not installed (util-linux); --pin needs it")


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    bench = None

    def measure() -> str:
        nonlocal bench
        prepare(options)
        bench = Replication(options)
        return bench.run()

    def cleanup() -> None:
        # Every server and push stopped, the scratch directory removed.
        if bench is not None:
            bench.close()

    return compare.report_main(PROG, options.out, measure, cleanup)


if __name__ == "__main__":
    sys.exit(main())
