#!/usr/bin/env python3
# Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
#
# Runs Freshet, Redis and a grpcio reference server side by side on one machine and the same keys, and prints one
# table. Started by Benchmarks/compare; see Benchmarks/README.md. It checks its arguments first (and answers --help)
# before it installs or builds anything, then runs scripts/setup --bench and the release builds, then measures.
# Only the standard library is used here, so any Python 3.10+ runs it; the grpcio peer runs under .venv/.
"""Side-by-side benchmark: Freshet GetFeatures vs Redis MGET/GET vs a Python grpcio FeatureServing server.

Every figure is the median of several runs of freshet-bench (the same open/closed-loop load generator, the same
key distribution and batches for every system). The servers run pinned to one CPU and the load generator to the
other, so each server gets one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".build" / "release"
FRESHET = BIN / "freshet"
BENCH = BIN / "freshet-bench"
PYTHON = REPO / ".venv" / "bin" / "python"
WORK = REPO / ".bench"
PROG = "Benchmarks/compare"

# What `freshet-bench` accepts (Benchmarks/freshet-bench/main.swift): `generate --keys` and `--features`, and the
# `--connections` and `--streams` of `grpc` and `redis`.
KEYS = (1, 100_000_000)
FEATURES = (1, 1000)
CONNECTIONS = (1, 10_000)
STREAMS = (1, 10_000)


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


class Failure(Exception):
    """A step that failed. `main` prints the one-line message, then the detail (a subprocess's stderr), and exits 1."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


def exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def tail(text: str, lines: int = 40) -> str:
    kept = text.rstrip().splitlines()
    return "\n".join(kept[-lines:])


def run(what: str, command: list[str], *, stdin=None, capture: bool = False, cwd: Path | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs `command`; raises Failure naming `what`, with the command's stderr, when it cannot start or fails.

    stdout is discarded unless `capture`; stderr is always captured (and given with the failure).
    """
    try:
        result = subprocess.run(command, stdin=stdin, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=timeout)
    except FileNotFoundError as error:
        raise Failure(f"{what} could not start: {error.filename or command[0]} not found") from None
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else (error.stderr or "")
        raise Failure(f"{what} did not finish within {timeout:.0f} s: {shlex.join(command)}", tail(stderr)) from None
    if result.returncode != 0:
        raise Failure(f"{what} failed ({exit_status(result.returncode)}): {shlex.join(command)}", tail(result.stderr))
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpus() -> tuple[str, str]:
    """(server CPU, load generator CPU) for taskset, or ("", "") when there is only one CPU."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return "", ""
    return str(available[0]), str(available[1])


def pinned(cpu: str, command: list[str]) -> list[str]:
    return (["taskset", "-c", cpu] + command) if cpu else command


# MARK: set-up


def prepare() -> None:
    """What the wrapper used to do before Python: install what is missing, then build the release binaries."""
    log("setting up: scripts/setup --bench (installs what is missing; apt-get needs root or sudo)")
    code = subprocess.run([str(REPO / "scripts" / "setup"), "--bench"], stdout=sys.stderr).returncode
    if code != 0:
        raise Failure(f"scripts/setup --bench failed ({exit_status(code)}); its messages are above")
    for product in ("freshet", "freshet-bench"):
        command = ["swift", "build", "-c", "release", "--product", product]
        log(f"building: {shlex.join(command)}")
        try:
            result = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise Failure("swift build could not start: swift is not on PATH (scripts/common.sh looks in "
                          "/opt/swift/usr/bin and /usr/share/swift/usr/bin)") from None
        if result.returncode != 0:
            raise Failure(f"{shlex.join(command)} failed ({exit_status(result.returncode)})", tail(result.stdout))
        log(tail(result.stdout, 1))


# MARK: servers


class Server:
    """A server process that prints `listening HOST:PORT` (Freshet, the grpcio peer) or answers PING (Redis)."""

    def __init__(self, name: str, command: list[str], log_path: Path, ready_line: bool = True, port: int = 0):
        self.name = name
        self.log_path = log_path
        self.output = open(log_path, "w")
        try:
            # Redis logs to stdout; nothing reads it, so it goes to the log file with stderr.
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE if ready_line else self.output,
                                            stderr=self.output, text=True)
        except FileNotFoundError as error:
            self.output.close()
            raise Failure(f"{name} could not start: {error.filename or command[0]} not found") from None
        self.address = f"127.0.0.1:{port}"
        if ready_line:
            deadline = time.time() + 300
            line = ""
            try:
                while time.time() < deadline:
                    line = self.process.stdout.readline()
                    if line.startswith("listening ") or not line:
                        break
            except BaseException:
                # Interrupted while it starts: no run holds this server yet, so stop it here.
                self.stop()
                raise
            if not line.startswith("listening "):
                self.stop()
                raise Failure(f"{name} did not start ({shlex.join(command)}); its log, {log_path}:", self.log())
            self.address = line.split()[1]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        self.output.flush()
        return tail(self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.output.closed:
            self.output.close()


def run_json(what: str, command: list[str]) -> dict:
    result = run(what, command, capture=True)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise Failure(f"{what} printed no JSON: {shlex.join(command)}", tail(result.stdout + result.stderr)) from None


class Compare:
    def __init__(self, args: argparse.Namespace, work: Path | None = None):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs
        self.duration = "2s" if self.quick else "10s"
        self.warmup = "1s" if self.quick else "2s"
        self.server_cpu, self.client_cpu = cpus()
        self.work = work or WORK
        self.work.mkdir(exist_ok=True)
        self.results: dict[tuple[str, int, str], list[dict]] = {}

    # MARK: data

    def data(self) -> Path:
        """The store for --keys x --features, generated and loaded once and cached in .bench/store-KxF.

        A store directory is trusted only with its `loaded` stamp. It is built in a `.partial-PID-…` directory, which
        is renamed into place only when complete and removed when anything fails or the run is interrupted; one left
        by a killed run (its process gone) is removed here.
        """
        name = f"store-{self.args.keys}x{self.args.features}"
        directory = self.work / name
        if (directory / "loaded").exists():
            log(f"using the store in {directory}")
            return directory
        if directory.exists():
            log(f"removing {directory}: an unfinished store (no 'loaded' stamp)")
            shutil.rmtree(directory)
        for leftover in self.work.glob("store-*.partial-*"):
            pid = leftover.name.split(".partial-", 1)[1].split("-", 1)[0]
            if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
                shutil.rmtree(leftover, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f"{name}.partial-{os.getpid()}-", dir=self.work))
        try:
            partial.chmod(0o755)
            log(f"generating {self.args.keys} keys x {self.args.features} features into {directory}")
            run("freshet-bench generate",
                [str(BENCH), "generate", "--keys", str(self.args.keys), "--features", str(self.args.features),
                 "--out", str(partial)])
            log("loading it into Freshet through freshet load")
            started = time.time()
            run("freshet load",
                [str(FRESHET), "load", "--data", str(partial / "data"), "--registry", str(partial / "registry.json"),
                 "--view", "items", "--csv", str(partial / "items.csv")])
            log(f"loaded in {time.time() - started:.1f} s")
            (partial / "loaded").write_text("ok\n")
            partial.rename(directory)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return directory

    # MARK: measuring

    def bench(self, target: str, address: str, batch: int, rate: float | None, extra: list[str] | None = None,
              duration: str | None = None) -> dict:
        command = [str(BENCH), target, "--server", address, "--keys", f"generated:{self.args.keys}",
                   "--batch", str(batch), "--connections", str(self.args.connections),
                   "--streams", str(self.args.streams), "--duration", duration or self.duration,
                   "--warmup", self.warmup, "--json"]
        if target == "grpc":
            command += ["--service", "bench_model"]
        if rate:
            command += ["--rate", f"{rate:.0f}"]
        return run_json(f"freshet-bench {target}", pinned(self.client_cpu, command + (extra or [])))

    def measure(self, system: str, target: str, address: str, batch: int, mode: str, rate: float | None = None) -> dict:
        runs = []
        for index in range(self.runs):
            result = self.bench(target, address, batch, rate)
            runs.append(result)
            log(f"{system} batch {batch} {mode} run {index + 1}: {result['requests_per_s']:.0f} req/s, "
                f"p99 {result['latency_us']['p99']:.0f} µs, errors {sum(result['errors'].values())}")
        self.results[(system, batch, mode)] = runs
        return self.median(runs)

    @staticmethod
    def median(runs: list[dict]) -> dict:
        def med(path):
            values = []
            for run in runs:
                value = run
                for key in path:
                    value = value[key]
                values.append(value)
            return statistics.median(values)

        return {
            "requests_per_s": med(["requests_per_s"]), "rows_per_s": med(["rows_per_s"]),
            "p50": med(["latency_us", "p50"]), "p99": med(["latency_us", "p99"]),
            "p999": med(["latency_us", "p999"]), "max": med(["latency_us", "max"]),
            "errors": max(sum(run["errors"].values()) for run in runs),
            "achieved": med(["completed_per_s"]), "client_cpu": med(["client_cpu"]),
        }

    def h2load(self, address: str, batch: int) -> tuple[float, float]:
        """h2load req/s against Freshet with one pre-serialized request, and freshet-bench's with the same one."""
        request = self.work / f"request-{batch}.bin"
        run("freshet-bench request",
            [str(BENCH), "request", "--service", "bench_model", "--keys", f"generated:{self.args.keys}",
             "--batch", str(batch), "--out", str(request)])
        seconds = 2 if self.quick else 10
        h2 = []
        ours = []
        for _ in range(self.runs):
            command = pinned(self.client_cpu, [
                "h2load", "-D", str(seconds), "--warm-up-time", "1", "-c", str(self.args.connections),
                "-m", str(self.args.streams), "-t", "1", "-d", str(request),
                "-H", "content-type: application/grpc", "-H", "te: trailers",
                f"http://{address}/freshet.v1.FeatureServing/GetFeatures"])
            output = run("h2load", command, capture=True).stdout
            match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", output)
            failed = re.search(r"requests: .* (\d+) failed", output)
            if not match or (failed and int(failed.group(1)) > 0):
                raise Failure(f"h2load reported failed requests or no rate: {shlex.join(command)}", tail(output))
            h2.append(float(match.group(1)))
            result = self.bench("grpc", address, batch, None, ["--pool", "1"], duration=f"{seconds}s")
            ours.append(result["requests_per_s"])
        return statistics.median(h2), statistics.median(ours)

    def idle_memory(self, server: Server, connections: int) -> tuple[int, int]:
        """(RssAnon before, RssAnon with `connections` idle HTTP/2 connections) of the server, in KiB."""
        def rss_anon() -> int:
            status = Path(f"/proc/{server.pid}/status").read_text()
            return int(re.search(r"RssAnon:\s+(\d+) kB", status).group(1))

        before = rss_anon()
        host, port = server.address.rsplit(":", 1)
        sockets = []
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
        try:
            import resource
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, connections + 256)), hard))
            for _ in range(connections):
                try:
                    client = socket.create_connection((host, int(port)))
                    client.sendall(preface)
                except OSError as error:
                    raise Failure(f"connection {len(sockets) + 1} of {connections} idle ones to Freshet at "
                                  f"{server.address} failed: {error}") from None
                sockets.append(client)
            time.sleep(1.0)
            for client in sockets:
                client.setblocking(False)
                try:
                    client.recv(65536)
                except BlockingIOError:
                    pass
                client.sendall(bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))  # SETTINGS ACK
            time.sleep(1.0)
            after = rss_anon()
        finally:
            for client in sockets:
                client.close()
        return before, after

    # MARK: the run

    def run(self) -> str:
        store = self.data()
        registry = store / "registry.json"
        batches = [100, 1]
        servers = []
        try:
            freshet = Server(
                "freshet", pinned(self.server_cpu, [str(FRESHET), "serve", "--data", str(store / "data"),
                                                    "--registry", str(registry), "--listen", "127.0.0.1:0",
                                                    "--threads", "1"]), self.work / "freshet.log")
            servers.append(freshet)
            redis_port = free_port()
            redis = Server(
                "redis", pinned(self.server_cpu, ["redis-server", "--port", str(redis_port), "--save", "",
                                                  "--appendonly", "no", "--protected-mode", "no"]),
                self.work / "redis.log", ready_line=False, port=redis_port)
            servers.append(redis)
            for _ in range(100):
                if subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True).returncode == 0:
                    break
                if redis.process.poll() is not None:
                    break
                time.sleep(0.1)
            else:
                raise Failure(f"redis-server did not answer PING on port {redis_port} within 10 s; its log, "
                              f"{redis.log_path}:", redis.log())
            if redis.process.poll() is not None:
                raise Failure(f"redis-server exited ({exit_status(redis.process.returncode)}); its log, "
                              f"{redis.log_path}:", redis.log())
            log("loading the same rows into Redis (SET key row, redis-cli --pipe)")
            with open(store / "redis.txt", "rb") as commands:
                run("redis-cli --pipe", ["redis-cli", "-p", str(redis_port), "--pipe"], stdin=commands)
            log("starting the grpcio reference server (loads the same CSV)")
            peer = Server(
                "grpcio", pinned(self.server_cpu, [str(PYTHON), str(REPO / "Benchmarks/peers/grpcio_server.py"),
                                                   "--registry", str(registry), "--load", f"items={store / 'items.csv'}",
                                                   "--port", "0"]), self.work / "grpcio.log")
            servers.append(peer)

            systems = [("Freshet", "grpc", freshet.address), ("Redis", "redis", redis.address),
                       ("grpcio", "grpc", peer.address)]
            maxima: dict[tuple[str, int], dict] = {}
            for batch in batches:
                for name, target, address in systems:
                    maxima[(name, batch)] = self.measure(name, target, address, batch, "max")
            fixed: dict[tuple[str, int, int], dict] = {}
            shares = [50] if self.quick else [25, 50, 75]
            for batch in batches:
                if self.quick and batch == 1:
                    continue
                freshet_max = maxima[("Freshet", batch)]["requests_per_s"]
                for share in shares:
                    rate = freshet_max * share / 100
                    for name, target, address in systems:
                        if rate > 0.95 * maxima[(name, batch)]["requests_per_s"]:
                            # Above its capacity an open loop only measures a growing queue.
                            log(f"{name} batch {batch} {share}%: skipped, over its capacity")
                            continue
                        fixed[(name, batch, share)] = self.measure(name, target, address, batch, f"{share}%", rate)
            log("cross-checking freshet-bench with h2load (one pre-serialized request)")
            cross = {batch: self.h2load(freshet.address, batch) for batch in ([100] if self.quick else batches)}
            log("measuring Freshet's memory with 1,000 idle connections")
            memory = self.idle_memory(freshet, 1000)
        finally:
            for server in servers:
                server.stop()
        return self.report(maxima, fixed, cross, memory, shares, batches)

    # MARK: the report

    def machine(self) -> list[str]:
        model = "unknown CPU"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
        redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
        grpcio = subprocess.run([str(PYTHON), "-c", "import grpc; print(grpc.__version__)"], capture_output=True,
                                text=True).stdout.strip()
        return [
            f"- machine: {model}, {os.cpu_count()} CPUs, {memory // 1024} GiB, {platform.system()} "
            f"{platform.release()}, {platform.freedesktop_os_release().get('PRETTY_NAME', '')}",
            f"- toolchain: {swift[0] if swift else 'swift ?'}; {redis.split(' sha=')[0]}; grpcio {grpcio}",
            f"- cores: each server pinned to CPU {self.server_cpu or '(any)'} (Freshet with --threads 1, Redis, "
            f"grpcio); the load generator (freshet-bench, h2load) pinned to CPU {self.client_cpu or '(any)'}",
            f"- data: {self.args.keys:,} keys x {self.args.features} mixed-type features (freshet-bench generate), "
            f"uniform random keys; Freshet reads them from LMDB through `freshet load`, Redis holds each row as "
            f"one string under its key, grpcio holds pre-built messages in a dict",
            f"- load: {self.args.connections} connections x {self.args.streams} concurrent requests each "
            f"(HTTP/2 streams, or the Redis pipeline depth); {self.warmup} warm-up then {self.duration} measured; "
            f"every figure is the median of {self.runs} runs",
            f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
            + (", quick mode" if self.quick else ""),
        ]

    def report(self, maxima, fixed, cross, memory, shares, batches) -> str:
        def us(value: float) -> str:
            return f"{value:,.0f}"

        lines = ["# Benchmark results", "", "Produced by `Benchmarks/compare" + (" --quick" if self.quick else "") + "`.", ""]
        lines += self.machine()
        lines += ["", "## Maximum throughput (closed loop)", "",
                  "| system | batch | req/s | rows/s | p50 µs | p99 µs | errors | rows/s vs Freshet |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for batch in batches:
            base = maxima[("Freshet", batch)]["rows_per_s"]
            for name in ["Freshet", "Redis", "grpcio"]:
                m = maxima[(name, batch)]
                label = {"Freshet": "Freshet GetFeatures", "Redis": "Redis " + ("MGET" if batch > 1 else "GET"),
                         "grpcio": "grpcio FeatureServing"}[name]
                lines.append(f"| {label} | {batch} | {m['requests_per_s']:,.0f} | {m['rows_per_s']:,.0f} | "
                             f"{us(m['p50'])} | {us(m['p99'])} | {m['errors']} | {m['rows_per_s'] / base:.2f}x |")
        lines += ["", "## Open loop at fixed rates (share of Freshet's maximum req/s for the batch size)", "",
                  "Latency is measured from each request's intended send time, so a server that cannot keep up "
                  "shows it in the percentiles (and in 'achieved' below the rate).", "",
                  "| system | batch | rate req/s | achieved req/s | p50 µs | p99 µs | p99.9 µs | max µs | p99 vs Freshet |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for batch in batches:
            for share in shares:
                if ("Freshet", batch, share) not in fixed:
                    continue
                base = fixed[("Freshet", batch, share)]["p99"]
                rate = maxima[("Freshet", batch)]["requests_per_s"] * share / 100
                for name in ["Freshet", "Redis", "grpcio"]:
                    f = fixed.get((name, batch, share))
                    if f is None:
                        capacity = maxima[(name, batch)]["requests_per_s"]
                        lines.append(f"| {name} | {batch} | {rate:,.0f} ({share}%) | over capacity "
                                     f"(max {capacity:,.0f}) | | | | | |")
                        continue
                    lines.append(f"| {name} | {batch} | {rate:,.0f} ({share}%) | {f['achieved']:,.0f} | "
                                 f"{us(f['p50'])} | {us(f['p99'])} | {us(f['p999'])} | {us(f['max'])} | "
                                 f"{f['p99'] / base:.2f}x |")
        lines += ["", "## Cross-check: h2load vs freshet-bench (same single request, closed loop)", "",
                  "| batch | h2load req/s | freshet-bench req/s | difference |", "| ---: | ---: | ---: | ---: |"]
        agreed = True
        for batch in sorted(cross, reverse=True):
            h2, ours = cross[batch]
            difference = abs(ours - h2) / h2
            agreed = agreed and difference <= 0.10
            lines.append(f"| {batch} | {h2:,.0f} | {ours:,.0f} | {difference * 100:.1f}% |")
        lines.append("")
        lines.append("The two load generators agree within 10%." if agreed else
                     "WARNING: the two load generators differ by more than 10%.")
        before, after = memory
        lines += ["", "## Memory", "",
                  f"Freshet's anonymous memory (RssAnon: everything but the LMDB map, which is file-backed): "
                  f"{before / 1024:.1f} MiB after the runs, {after / 1024:.1f} MiB with 1,000 idle HTTP/2 "
                  f"connections open ({(after - before) / 1000:.1f} KiB per connection)."]
        f100 = maxima[("Freshet", 100)]["rows_per_s"]
        r100 = maxima[("Redis", 100)]["rows_per_s"]
        g100 = maxima[("grpcio", 100)]["rows_per_s"]
        f1 = maxima[("Freshet", 1)]["requests_per_s"]
        r1 = maxima[("Redis", 1)]["requests_per_s"]
        g1 = maxima[("grpcio", 1)]["requests_per_s"]
        half = fixed.get(("Freshet", 100, 50))
        lines += ["", "## Targets", "",
                  f"- batch 100 rows/s vs Redis MGET keys/s: {f100 / r100:.2f}x (target >= 1.0x)",
                  f"- batch 100 rows/s vs grpcio: {f100 / g100:.2f}x (target >= 5x)",
                  f"- batch 1 req/s vs grpcio: {f1 / g1:.2f}x (target >= 1x); vs Redis GET: {f1 / r1:.2f}x "
                  f"(target >= 0.5x)"]
        if half:
            lines.append(f"- open loop at 50% of max, batch 100: p99 {half['p99']:,.0f} µs (target < 1,000), "
                         f"p99.9 {half['p999']:,.0f} µs (target < 2,000)")
        lines.append(f"- RSS outside the LMDB map with 1,000 idle connections: {after / 1024:.1f} MiB (target < 64)")
        lines += ["", f"batch 100 rows/s vs Redis MGET: {f100 / r100:.2f}x"]
        return "\n".join(lines) + "\n"


# MARK: arguments


def integer(low: int, high: int):
    """An argparse type: an integer from low to high."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, not '{text}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, not {value}")
        return value
    return parse


def output_file(text: str) -> Path:
    """An argparse type: a file that can be written, checked now rather than after the whole run."""
    path = Path(text)
    parent = path.absolute().parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {parent} does not exist")
    if path.exists():
        try:
            with open(path, "a"):
                pass
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot write {text}: {error.strerror}") from None
    else:
        try:
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot create a file in {parent}: {error.strerror}") from None
    return path


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Arguments are checked first. Then it runs scripts/setup --bench, which apt-get installs whatever is\n"
               "missing of Freshet's build packages (h2load comes from one of them, nghttp2-client) and of\n"
               "redis-server, redis-tools, util-linux (taskset) and procps (root or sudo when one is missing).\n"
               "Then it builds .build/release/freshet and .build/release/freshet-bench (swift build -c release)\n"
               "and generates the store, cached in .bench/store-KEYSxFEATURES. See Benchmarks/README.md.")
    result.add_argument("--quick", action="store_true", help="shorter runs and fewer rates (under 3 minutes)")
    result.add_argument("--keys", type=integer(*KEYS), default=1_000_000, metavar="N",
                        help=f"keys in the generated store, {KEYS[0]} to {KEYS[1]:,} (default %(default)s)")
    result.add_argument("--features", type=integer(*FEATURES), default=10, metavar="N",
                        help=f"features per key, of mixed types, {FEATURES[0]} to {FEATURES[1]:,} "
                             "(default %(default)s)")
    result.add_argument("--connections", type=integer(*CONNECTIONS), default=4, metavar="N",
                        help=f"load generator connections to each server, {CONNECTIONS[0]} to {CONNECTIONS[1]:,} "
                             "(default %(default)s)")
    result.add_argument("--streams", type=integer(*STREAMS), default=8, metavar="N",
                        help=f"concurrent requests per connection (HTTP/2 streams, or the Redis pipeline depth), "
                             f"{STREAMS[0]} to {STREAMS[1]:,} (default %(default)s)")
    result.add_argument("--runs", type=integer(3, 1000), default=3, metavar="N",
                        help="runs per figure; the median is reported, so at least 3 (default %(default)s)")
    result.add_argument("--out", type=output_file, metavar="FILE",
                        help="also write the report to this file (e.g. Benchmarks/RESULTS.md); its directory must "
                             "exist")
    return result


def interrupted(number, frame) -> None:
    raise KeyboardInterrupt


def report_main(prog: str, out: Path | None, measure, cleanup=lambda: None) -> int:
    """Runs `measure()` (which returns the Markdown report), prints the report and writes it to `out`; the exit
    status of a benchmark script: 0, 1 after a Failure (its message and detail on stderr), 130 when interrupted.
    SIGTERM and SIGHUP unwind like Ctrl-C, so `cleanup` and every `finally` on the way stop what was started."""
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        report = measure()
        print(report, end="", flush=True)
        if out:
            try:
                out.write_text(report)
            except OSError as error:
                raise Failure(f"cannot write {out}: {error.strerror}") from None
            log(f"wrote {out}")
    except Failure as failure:
        print(f"{prog}: {failure.message}", file=sys.stderr)
        if failure.detail.strip():
            print(failure.detail.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def measure() -> str:
        prepare()  # servers stopped and a half-made store removed on the way out (Compare.run's own finally)
        return Compare(args).run()

    return report_main(PROG, args.out, measure)


if __name__ == "__main__":
    sys.exit(main())
