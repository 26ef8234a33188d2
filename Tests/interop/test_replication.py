"""Replication over the wire: `freshet push` and raw grpcio streams against real `freshet serve` processes.

- Crash tests: a push runs while the server is SIGKILLed at random moments (seeded, the seed is printed) and
  restarted on the same port; the push must finish by itself, every update must be applied exactly once, and the
  served rows must equal newest-event-wins computed here from the pushed file.
- Two regions: one push feeds two servers; one is down for a while and the other is never held back.
- The Replicate rules (gaps, invalid batches, resent overlaps, ack order) with a raw grpcio bidi stream.

Expected answers are computed here from the files, never from the server.
"""

from __future__ import annotations

import calendar
import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

# As in conftest.py (not imported from it: another directory of the same pytest run may have its own conftest).
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "nycflights"
REGISTRY = EXAMPLES / "registry.json"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
RPC_TIMEOUT = 30.0
PUSH_TIMEOUT = 300.0

WEATHER_JSONL = EXAMPLES / "weather_updates.jsonl"
WEATHER_FEATURES = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
ORIGINS = ["EWR", "JFK", "LGA"]

# The crash tests' seeds; the test output prints them, so a failing run can be replayed by editing these.
NYC_CRASH_SEED = 20240611
GENERATED_DATA_SEED = 7
GENERATED_CRASH_SEED = 4242
TWO_REGION_SEED = 99

MIN_KILLS = 5


# --------------------------------------------------------------------------------------------------------------------
# Servers on a fixed port that can be killed and restarted


_PORTS = random.Random()


def free_port() -> int:
    """A port that was free a moment ago, below the kernel's ephemeral range when it can: a port bound to :0 comes
    from that range, and an outgoing connection can take it before the server that was to listen on it starts."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(100 if low > 11_000 else 0):
        port = _PORTS.randrange(10_000, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def release_bin(freshet_bin) -> Path:
    """The optimized binary when `$FRESHET_RELEASE_BIN` names one, else `$FRESHET_BIN`."""
    text = os.environ.get("FRESHET_RELEASE_BIN")
    if text:
        path = Path(text)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        print(f"FRESHET_RELEASE_BIN={text} is not an executable file; using {freshet_bin}")
    return freshet_bin


class Region:
    """`freshet serve --sync full` on one fixed port and one data directory, across kills and restarts. Every
    incarnation keeps its own stdout/stderr files, so a failure can show all of them."""

    def __init__(self, name: str, binary: Path, registry: Path, workdir: Path, port: int):
        self.name = name
        self.binary = binary
        self.registry = registry
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.incarnation = 0
        self.logs: list[tuple[Path, Path]] = []
        self.stopped_cleanly = False

    def command(self) -> list[str]:
        return [str(self.binary), "serve", "--data", str(self.data), "--registry", str(self.registry),
                "--listen", self.address, "--sync", "full"]

    def start(self) -> float:
        """Starts the server and waits for its `listening HOST:PORT` line; returns the seconds that took."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        self.incarnation += 1
        stdout_path = self.workdir / f"stdout.{self.incarnation}"
        stderr_path = self.workdir / f"stderr.{self.incarnation}"
        self.logs.append((stdout_path, stderr_path))
        started = time.monotonic()
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        deadline = started + START_TIMEOUT
        text = ""
        while time.monotonic() < deadline:
            text = stdout_path.read_text(errors="replace")
            if "\n" in text or self.process.poll() is not None:
                break
            time.sleep(0.005)
        line = text.splitlines()[0] if text.splitlines() else ""
        if line.strip() != f"listening {self.address}":
            code = self.process.poll()
            self.kill()
            pytest.fail(
                f"{self.name}: `{' '.join(self.command())}` (start #{self.incarnation}) "
                f"{'exited ' + str(code) if code is not None else 'timed out'} without printing "
                f"'listening {self.address}' (stdout {text!r})\n{self.describe(last=2)}", pytrace=False)
        return time.monotonic() - started

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM, which must exit 0 within STOP_TIMEOUT."""
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM\n{self.describe()}",
                        pytrace=False)
        assert code == 0, f"{self.name} exited {code} after SIGTERM (expected 0)\n{self.describe()}"
        self.stopped_cleanly = True

    def describe(self, last: int = 3) -> str:
        parts = [f"{self.name}: {' '.join(self.command())} ({self.incarnation} start(s))"]
        for stdout_path, stderr_path in self.logs[-last:]:
            try:
                text = stderr_path.read_text(errors="replace")
            except OSError as error:
                text = f"<{error}>"
            lines = text.splitlines()
            crash = [index for index, line in enumerate(lines) if "Program crashed" in line or " crashed:" in line]
            if crash:  # a Swift runtime crash report: its headline and the crashed thread's top frames
                excerpt = [line for index in crash for line in lines[index:index + 6]]
                parts.append(f"--- {stderr_path.name}: the server crashed\n" + "\n".join(excerpt))
            else:
                parts.append(f"--- {stderr_path.name} (last 15 of {len(lines)} lines)\n" + "\n".join(lines[-15:]))
        return "\n".join(parts)


@pytest.fixture
def regions(tmp_path):
    """Factory: `regions("A", binary, registry)` makes a Region on a free port (not started). Every region still
    running at the end is stopped (SIGKILL on a failed test's way out)."""
    made: list[Region] = []

    def make(name: str, binary: Path, registry: Path = REGISTRY) -> Region:
        workdir = tmp_path / f"region-{name}"
        workdir.mkdir()
        region = Region(name, binary, registry, workdir, free_port())
        made.append(region)
        return region

    yield make
    for region in made:
        region.kill()


class Push:
    """A `freshet push` subprocess with its output in files."""

    count = 0

    def __init__(self, binary: Path, servers: list[Region], registry: Path, view: str, jsonl: Path, source: str,
                 *flags: str, workdir: Path):
        Push.count += 1
        self.command = [str(binary), "push", "--server", ",".join(s.address for s in servers), "--source", source,
                        "--registry", str(registry), "--view", view, "--jsonl", str(jsonl), *flags]
        self.stdout_path = workdir / f"push-{Push.count}.stdout"
        self.stderr_path = workdir / f"push-{Push.count}.stderr"
        self.started = time.monotonic()
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        self.elapsed: float | None = None

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = PUSH_TIMEOUT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"push did not finish within {timeout:.0f} s\n{self.describe()}", pytrace=False)
        self.elapsed = time.monotonic() - self.started
        return code

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()

    def describe(self) -> str:
        out = self.stdout_path.read_text(errors="replace").splitlines()
        err = self.stderr_path.read_text(errors="replace")
        return (f"`{' '.join(self.command)}` (exit {self.process.poll()})\n"
                f"push stdout (last 25 of {len(out)} lines):\n" + "\n".join(out[-25:]) + f"\npush stderr:\n{err}")


@pytest.fixture
def pushes(tmp_path):
    """Factory for Push; any push still running at the end is killed."""
    made: list[Push] = []

    def make(*args, **kwargs) -> Push:
        push = Push(*args, workdir=tmp_path, **kwargs)
        made.append(push)
        return push

    yield make
    for push in made:
        push.kill()


def get_position(pb, address: str, source: str, timeout: float = RPC_TIMEOUT):
    with grpc.insecure_channel(address) as channel:
        stub = pb.replication_grpc.ReplicationStub(channel)
        return stub.GetPosition(pb.replication.GetPositionRequest(source=source), timeout=timeout,
                                wait_for_ready=True)


def position_tuple(position) -> tuple[int, int, int, int]:
    return (position.applied_sequence, position.written, position.superseded, position.duplicates)


@dataclass
class Kill:
    number: int
    at: float  # seconds since the push started
    position_before: int  # GetPosition just before the SIGKILL (a lower bound of what was committed)
    position_after: int  # GetPosition after the restart
    push_running: bool  # the push was still running right after the kill
    restart_seconds: float

    def landed(self, total: int) -> bool:
        return self.push_running and self.position_before < total


def kill_during_push(pb, region: Region, push: Push, source: str, total: int, rng: random.Random,
                     delays: tuple[float, float], max_kills: int) -> list[Kill]:
    """SIGKILLs `region` at random moments while `push` runs, restarting it on the same port each time, at most
    `max_kills` times. Waits for the push to have something applied before the first kill, so every kill lands
    mid-stream. Checks that no committed position is lost across a kill."""
    deadline = time.monotonic() + 60
    while push.running() and get_position(pb, region.address, source).applied_sequence == 0:
        assert time.monotonic() < deadline, f"the push applied nothing within 60 s\n{push.describe()}"
        time.sleep(0.01)
    kills: list[Kill] = []
    while push.running() and len(kills) < max_kills:
        time.sleep(rng.uniform(*delays))
        if not push.running():
            break
        before = get_position(pb, region.address, source, timeout=5).applied_sequence
        region.kill()
        at = time.monotonic() - push.started
        push_running = push.running()
        restart = region.start()
        after = get_position(pb, region.address, source).applied_sequence
        kill = Kill(len(kills) + 1, at, before, after, push_running, restart)
        kills.append(kill)
        print(f"  kill #{kill.number} at {kill.at:6.2f} s: position {before} before, {after} after restart "
              f"({restart * 1000:.0f} ms to 'listening'); push {'running' if push_running else 'already done'}")
        assert after >= before, (
            f"{region.name}: position went back across SIGKILL #{kill.number}: {before} before, {after} after "
            f"(with --sync full a committed batch must survive)\n{region.describe()}")
    return kills


# --------------------------------------------------------------------------------------------------------------------
# Expected state: newest event wins, computed from the pushed file


def parse_time(text: str) -> tuple[int, int]:
    """'2013-01-01T06:00:00Z' or '...:00.123Z' -> (Unix seconds, nanoseconds)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert match, f"unexpected event_time {text!r}"
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    nanos = int((match.group(2) or "").ljust(9, "0")) if match.group(2) else 0
    return seconds, nanos


@dataclass
class Winner:
    time: tuple[int, int]
    sequence: int
    values: dict | None  # None: a delete (tombstone)


@dataclass
class Reference:
    """The newest-event-wins state after applying a file in sequence order, and the counters it implies."""

    rows: dict = field(default_factory=dict)  # key -> Winner
    total: int = 0
    written: int = 0
    superseded: int = 0

    def apply(self, key, event_time: tuple[int, int], values: dict | None) -> None:
        self.total += 1
        sequence = self.total
        current = self.rows.get(key)
        # A later event time wins; on equal times the higher sequence (this one: it came later) wins.
        if current is None or event_time >= current.time:
            self.rows[key] = Winner(event_time, sequence, values)
            self.written += 1
        else:
            self.superseded += 1


def reference_from_jsonl(path: Path, key_name: str) -> Reference:
    reference = Reference()
    with open(path) as file:
        for line in file:
            if not line.strip():
                continue
            update = json.loads(line)
            values = None if update.get("op") == "delete" else update["features"]
            reference.apply(update["entity"][key_name], parse_time(update["event_time"]), values)
    return reference


def wire_value(value) -> tuple:
    """A response Value as a comparable tuple; doubles by their bits (so -0.0 != 0.0)."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return ("unset",)
    if kind == "null_value":
        return ("null",)
    if kind == "double_value":
        return ("double", value.double_value.hex())
    return (kind.removesuffix("_value"), getattr(value, kind))


def expected_value(feature_type: str, raw) -> tuple:
    if raw is None:
        return ("null",)
    if feature_type == "double":
        return ("double", float(raw).hex())
    if feature_type == "int64":
        return ("int64", int(raw))
    if feature_type == "string":
        return ("string", raw)
    raise AssertionError(f"no expectation for type {feature_type}")


def status_name(pb, status: int) -> str:
    return pb.values.FeatureStatus.Name(status)


def check_served(pb, address: str, view: str, key_name: str, features: list[tuple[str, str]], keys: list,
                 reference: Reference, found_status: str, batch: int = 1000) -> tuple[int, int]:
    """Looks every key up with GetFeatures (batches of `batch` rows) and compares it with the reference. Fails on the
    first mismatching key, after counting all mismatches. Returns (present, not found) counts."""
    refs = [f"{view}:{name}" for name, _ in features]
    mismatches: list[str] = []
    present = missing = 0
    with grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        for start in range(0, len(keys), batch):
            chunk = keys[start:start + batch]
            rows = [pb.serving.EntityRow(keys={key_name: (pb.values.Value(int64_value=k) if isinstance(k, int)
                                                          else pb.values.Value(string_value=k))})
                    for k in chunk]
            request = pb.serving.GetFeaturesRequest(feature_refs=pb.serving.FeatureRefs(refs=refs), rows=rows)
            response = stub.GetFeatures(request, timeout=RPC_TIMEOUT, wait_for_ready=True)
            assert len(response.views) == 1 and list(response.views[0].features) == [n for n, _ in features], (
                f"unexpected response header {response.views}")
            assert len(response.rows) == len(chunk), f"{len(response.rows)} rows answered for {len(chunk)}"
            for key, row in zip(chunk, response.rows):
                result = row.views[0]
                got_status = status_name(pb, result.status)
                winner = reference.rows.get(key)
                got_time = (result.event_time.seconds, result.event_time.nanos) if result.HasField(
                    "event_time") else None
                got_values = [wire_value(v) for v in result.values]
                if winner is None or winner.values is None:
                    missing += 1
                    why = "never updated" if winner is None else (
                        f"deleted by sequence {winner.sequence} at {winner.time}")
                    if got_status != "NOT_FOUND" or got_time is not None or any(v != ("unset",) for v in got_values):
                        mismatches.append(
                            f"key {key!r}: expected NOT_FOUND ({why}); got {got_status}, event_time {got_time}, "
                            f"values {got_values}")
                    continue
                present += 1
                want_values = [expected_value(t, winner.values[n]) for n, t in features]
                if got_status != found_status or got_time != winner.time or got_values != want_values:
                    mismatches.append(
                        f"key {key!r}: expected {found_status}, event_time {winner.time}, values {want_values} "
                        f"(sequence {winner.sequence}); got {got_status}, event_time {got_time}, values {got_values}")
    assert not mismatches, (f"{len(mismatches)} of {len(keys)} keys differ from newest-event-wins; first ones:\n"
                            + "\n".join(mismatches[:10]))
    return present, missing


def check_position(pb, region: Region, source: str, reference: Reference):
    position = get_position(pb, region.address, source)
    got = position_tuple(position)
    assert position.applied_sequence == reference.total, (
        f"{region.name}: position {got} (applied, written, superseded, duplicates); expected applied_sequence "
        f"{reference.total} (the file's updates)\n{region.describe()}")
    assert position.written + position.superseded == position.applied_sequence, (
        f"{region.name}: written {position.written} + superseded {position.superseded} != applied_sequence "
        f"{position.applied_sequence}: some update was not applied exactly once\n{region.describe()}")
    assert (position.written, position.superseded) == (reference.written, reference.superseded), (
        f"{region.name}: written/superseded {position.written}/{position.superseded}; applying the file once in "
        f"sequence order gives {reference.written}/{reference.superseded}\n{region.describe()}")
    return position


def weather_features() -> list[tuple[str, str]]:
    return [(name, "double") for name in WEATHER_FEATURES]


# --------------------------------------------------------------------------------------------------------------------
# 1. Crash test, nycflights weather


def test_push_survives_server_sigkills_nycflights(pb, release_bin, regions, pushes):
    seed = NYC_CRASH_SEED
    rng = random.Random(seed)
    print(f"\nnycflights crash test: seed {seed}, binary {release_bin}")
    reference = reference_from_jsonl(WEATHER_JSONL, "origin")
    region = regions("weather", release_bin)
    region.start()
    source = "weather-central"
    # Batches of 5 and one in flight, so the push lasts long enough for the kills (about 1.5 s undisturbed here).
    push = pushes(release_bin, [region], REGISTRY, "weather", WEATHER_JSONL, source,
                  "--batch-rows", "5", "--window", "1")
    kills = kill_during_push(pb, region, push, source, reference.total, rng, delays=(0.1, 0.35), max_kills=10)
    code = push.wait()
    landed = sum(k.landed(reference.total) for k in kills)
    print(f"push exited {code} in {push.elapsed:.2f} s; {len(kills)} kills, {landed} landed during the push")
    assert code == 0, f"push exited {code} (expected 0: it reconnects after every kill)\n{push.describe()}"
    assert landed >= MIN_KILLS, (
        f"only {landed} SIGKILLs landed while the push was running (need {MIN_KILLS}): the test must slow the push "
        f"down\n{push.describe()}")

    check_position(pb, region, source, reference)
    present, missing = check_served(pb, region.address, "weather", "origin", weather_features(), ORIGINS,
                                    reference, found_status="STALE")  # 2013 observations, max_age 2h
    assert (present, missing) == (3, 0)
    region.stop()


# --------------------------------------------------------------------------------------------------------------------
# 2. Crash test, a generated stream of a million updates


GENERATED_VIEW = "things"
GENERATED_KEY = "thing_id"
GENERATED_FEATURES = [("score", "double"), ("count", "int64"), ("label", "string")]
GENERATED_UPDATES = 1_000_000
GENERATED_KEYS = 100_000
NEVER_UPDATED = 100  # the last keys of the key space are never updated: they must be NOT_FOUND

SPECIAL_DOUBLES = [0.0, -0.0, 1e-300, -2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, -1.5, 0.1,
                   123456789.123456789, 3.141592653589793]
SPECIAL_INTS = [0, -1, 1, 2**63 - 1, -(2**63), 2**53 + 1, -(2**31)]
SPECIAL_LABELS = ["", "a", "quote \" and backslash \\", "tab\tnewline\n", "café", "日本語", "emoji 🚀",
                  "x" * 300, "null", "0"]


def generated_registry(path: Path) -> None:
    registry = {
        "entities": [{"name": "thing", "join_keys": [{"name": GENERATED_KEY, "type": "int64"}]}],
        "feature_views": [{
            "name": GENERATED_VIEW, "entity": "thing", "max_age": "0",
            "features": [{"name": name, "type": kind} for name, kind in GENERATED_FEATURES],
        }],
    }
    path.write_text(json.dumps(registry, indent=1))


def key_of(index: int) -> int:
    """Key i of the key space: spread over int64, negative ones included, the extremes at 0 and 1."""
    if index == 0:
        return -(2**63)
    if index == 1:
        return 2**63 - 1
    return (index - GENERATED_KEYS // 2) * 92_233_720_368_547 + index


def format_ms(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def generate_stream(path: Path, seed: int) -> tuple[Reference, dict]:
    """Writes GENERATED_UPDATES updates over GENERATED_KEYS keys and returns the reference and some counts.

    Event times rise by 100 ms per update; about 20% are moved back by 1 ms to 24 h (out of order; a key is updated every 2.8 h on average), about 2% copy
    the current winner's event time of their key exactly (a tie, which the later sequence wins), about 10% are
    deletes, and about 10% of each feature is null."""
    rng = random.Random(seed)
    base_ms = 1_700_000_000_000
    labels = [json.dumps(s, ensure_ascii=False) for s in SPECIAL_LABELS] + [
        json.dumps(f"label-{i}-{rng.getrandbits(40):x}") for i in range(2000)]
    reference = Reference()
    counts = {"deletes": 0, "moved_back": 0, "ties": 0, "nulls": 0}
    updated_keys = GENERATED_KEYS - NEVER_UPDATED
    random_ = rng.random
    randrange = rng.randrange
    lines = []
    with open(path, "w") as file:
        for i in range(1, GENERATED_UPDATES + 1):
            key = key_of(randrange(updated_keys))
            ms = base_ms + i * 100
            draw = random_()
            current = reference.rows.get(key)
            if draw < 0.20:
                ms -= randrange(1, 86_400_000)
                counts["moved_back"] += 1
            elif draw < 0.22 and current is not None:
                seconds, nanos = current.time
                ms = seconds * 1000 + nanos // 1_000_000
                counts["ties"] += 1
            event_time = (ms // 1000, (ms % 1000) * 1_000_000)
            time_text = format_ms(ms)
            if random_() < 0.10:
                counts["deletes"] += 1
                lines.append(f'{{"entity": {{"{GENERATED_KEY}": {key}}}, "event_time": "{time_text}", '
                             f'"op": "delete"}}\n')
                reference.apply(key, event_time, None)
            else:
                pick = random_()
                if pick < 0.10:
                    score = None
                elif pick < 0.12:
                    score = SPECIAL_DOUBLES[randrange(len(SPECIAL_DOUBLES))]
                else:
                    score = (random_() - 0.5) * 10 ** randrange(-5, 12)
                pick = random_()
                if pick < 0.10:
                    count = None
                elif pick < 0.12:
                    count = SPECIAL_INTS[randrange(len(SPECIAL_INTS))]
                else:
                    count = randrange(-10**12, 10**12)
                pick = random_()
                label_index = None if pick < 0.10 else randrange(len(labels))
                counts["nulls"] += (score is None) + (count is None) + (label_index is None)
                score_text = "null" if score is None else repr(score)
                count_text = "null" if count is None else str(count)
                label_text = "null" if label_index is None else labels[label_index]
                lines.append(f'{{"entity": {{"{GENERATED_KEY}": {key}}}, "event_time": "{time_text}", '
                             f'"features": {{"score": {score_text}, "count": {count_text}, '
                             f'"label": {label_text}}}}}\n')
                label = None if label_index is None else json.loads(labels[label_index])
                reference.apply(key, event_time, {"score": score, "count": count, "label": label})
            if len(lines) >= 10_000:
                file.write("".join(lines))
                lines.clear()
        file.write("".join(lines))
    return reference, counts


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated stream: (registry path, JSONL path, reference, counts), made once per module."""
    workdir = tmp_path_factory.mktemp("generated")
    registry = workdir / "registry.json"
    generated_registry(registry)
    jsonl = workdir / "things.jsonl"
    started = time.monotonic()
    reference, counts = generate_stream(jsonl, GENERATED_DATA_SEED)
    elapsed = time.monotonic() - started
    print(f"\ngenerated {reference.total} updates (seed {GENERATED_DATA_SEED}) into {jsonl} "
          f"({jsonl.stat().st_size / 1e6:.0f} MB) in {elapsed:.1f} s: {counts}; "
          f"expected written {reference.written}, superseded {reference.superseded}")
    return registry, jsonl, reference, counts


def test_push_survives_server_sigkills_generated_million(pb, release_bin, regions, pushes, generated, tmp_path):
    registry, jsonl, reference, counts = generated
    assert reference.total == GENERATED_UPDATES
    assert counts["deletes"] > 0.09 * GENERATED_UPDATES and counts["moved_back"] > 0.19 * GENERATED_UPDATES
    assert counts["ties"] > 1000 and reference.superseded > 0.1 * GENERATED_UPDATES
    seed = GENERATED_CRASH_SEED
    rng = random.Random(seed)
    print(f"\ngenerated crash test: kill seed {seed}, binary {release_bin}")
    region = regions("things", release_bin, registry)
    region.start()
    source = "things-central"
    started = time.monotonic()
    push = pushes(release_bin, [region], registry, GENERATED_VIEW, jsonl, source, "--batch-rows", "1000")
    kills = kill_during_push(pb, region, push, source, reference.total, rng, delays=(0.2, 1.2), max_kills=12)
    code = push.wait()
    landed = sum(k.landed(reference.total) for k in kills)
    print(f"push exited {code} in {push.elapsed:.2f} s; {len(kills)} kills, {landed} landed during the push")
    assert code == 0, f"push exited {code} (expected 0: it reconnects after every kill)\n{push.describe()}"
    assert landed >= MIN_KILLS, (
        f"only {landed} SIGKILLs landed while the push was running (need {MIN_KILLS}): the test must slow the push "
        f"down\n{push.describe()}")

    position = check_position(pb, region, source, reference)
    checked = time.monotonic()
    keys = [key_of(i) for i in range(GENERATED_KEYS)]
    present, missing = check_served(pb, region.address, GENERATED_VIEW, GENERATED_KEY, GENERATED_FEATURES, keys,
                                    reference, found_status="PRESENT")
    print(f"all {len(keys)} keys match newest-event-wins ({present} PRESENT, {missing} NOT_FOUND) "
          f"in {time.monotonic() - checked:.1f} s; position {position_tuple(position)}")

    # A rerun of the same file sends nothing the region has: it exits 0 quickly and changes nothing.
    rerun_started = time.monotonic()
    rerun = pushes(release_bin, [region], registry, GENERATED_VIEW, jsonl, source, "--batch-rows", "1000")
    code = rerun.wait(timeout=120)
    print(f"rerun exited {code} in {rerun.elapsed:.2f} s")
    assert code == 0, f"rerun exited {code}\n{rerun.describe()}"
    assert rerun.elapsed < 30, f"rerun took {rerun.elapsed:.1f} s: it should only read the file and ask the position"
    again = get_position(pb, region.address, source)
    assert position_tuple(again) == position_tuple(position), (
        f"the rerun changed the position/counters (applied, written, superseded, duplicates): "
        f"{position_tuple(position)} -> {position_tuple(again)}\n{rerun.describe()}")
    assert again.last_commit_time == position.last_commit_time, "the rerun committed something"
    region.stop()
    print(f"generated crash test total {time.monotonic() - started:.1f} s (after generating the file)")


# --------------------------------------------------------------------------------------------------------------------
# 3. Two regions fed by one push; one is down for a while


def test_one_push_two_regions_one_down(pb, release_bin, regions, pushes):
    reference = reference_from_jsonl(WEATHER_JSONL, "origin")
    rng = random.Random(TWO_REGION_SEED)
    a = regions("A", release_bin)
    b = regions("B", release_bin)
    a.start()
    b.start()
    source = "weather-central"
    # Batches of 2 and one in flight: about 10,000 acks per region, several seconds.
    push = pushes(release_bin, [a, b], REGISTRY, "weather", WEATHER_JSONL, source,
                  "--batch-rows", "2", "--window", "1")
    deadline = time.monotonic() + 60
    while get_position(pb, b.address, source).applied_sequence == 0:
        assert push.running() and time.monotonic() < deadline, f"B got nothing\n{push.describe()}"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.05, 0.3))
    b_before = get_position(pb, b.address, source).applied_sequence
    b.kill()
    down_at = time.monotonic()
    a_at_kill = get_position(pb, a.address, source).applied_sequence
    assert push.running(), f"the push ended before B was stopped: slow it down\n{push.describe()}"
    assert a_at_kill < reference.total, "A had everything before B went down: slow the push down"
    time.sleep(2.5)
    a_while_down = get_position(pb, a.address, source).applied_sequence
    down = time.monotonic() - down_at
    print(f"\nB killed at position {b_before} (A at {a_at_kill}); after {down:.1f} s of B down, A is at "
          f"{a_while_down} of {reference.total}")
    assert a_while_down > a_at_kill, (
        f"A did not advance while B was down ({a_at_kill} -> {a_while_down} in {down:.1f} s): the live region was "
        f"held back by the dead one\n{push.describe()}")
    assert push.running(), f"the push exited while B was down\n{push.describe()}"
    b.start()
    b_after_restart = get_position(pb, b.address, source).applied_sequence
    assert b_after_restart >= b_before, f"B lost committed updates across SIGKILL: {b_before} -> {b_after_restart}"
    code = push.wait()
    print(f"push exited {code} in {push.elapsed:.2f} s")
    assert code == 0, f"push exited {code}\n{push.describe()}"

    positions = {}
    for region in (a, b):
        positions[region.name] = position_tuple(check_position(pb, region, source, reference))
        check_served(pb, region.address, "weather", "origin", weather_features(), ORIGINS, reference,
                     found_status="STALE")
    # Same rows on both (values and event_time already equal the reference on each); the counters too.
    assert positions["A"][:3] == positions["B"][:3], f"regions differ: {positions}"
    served = []
    for region in (a, b):
        with grpc.insecure_channel(region.address) as channel:
            response = pb.serving_grpc.FeatureServingStub(channel).GetFeatures(pb.serving.GetFeaturesRequest(
                feature_refs=pb.serving.FeatureRefs(refs=[f"weather:{f}" for f in WEATHER_FEATURES]),
                rows=[pb.serving.EntityRow(keys={"origin": pb.values.Value(string_value=o)}) for o in ORIGINS]),
                timeout=RPC_TIMEOUT)
        served.append([(r.views[0].status, r.views[0].event_time.seconds, r.views[0].event_time.nanos,
                        [wire_value(v) for v in r.views[0].values]) for r in response.rows])
    assert served[0] == served[1], f"A and B serve different rows:\nA: {served[0]}\nB: {served[1]}"
    a.stop()
    b.stop()


# --------------------------------------------------------------------------------------------------------------------
# 4. The Replicate rules over a raw grpcio stream


class Stream:
    """A Replicate call fed from a queue, so a test can send a batch, wait for its ack, and send the next."""

    def __init__(self, pb, channel):
        self.requests: queue.Queue = queue.Queue()
        self.call = pb.replication_grpc.ReplicationStub(channel).Replicate(self._iterate(), timeout=RPC_TIMEOUT)

    def _iterate(self):
        while True:
            item = self.requests.get()
            if item is None:
                return
            yield item

    def send(self, batch) -> None:
        self.requests.put(batch)

    def close(self) -> None:
        self.requests.put(None)

    def ack(self):
        return next(self.call)

    def error(self) -> tuple[grpc.RpcError, list]:
        """Reads until the call ends; returns its error and any acks that came before."""
        acks = []
        try:
            for ack in self.call:
                acks.append(ack)
        except grpc.RpcError as error:
            return error, acks
        pytest.fail(f"the stream ended OK, expected an error (acks {acks})")


def weather_update(pb, origin: str, seconds: int, temp: float | None = 1.0, extra: dict | None = None,
                   delete: bool = False):
    update = pb.replication.Update(view="weather", key={"origin": pb.values.Value(string_value=origin)})
    update.event_time.FromSeconds(seconds)
    if delete:
        update.delete.SetInParent()
        return update
    values = {"temp": pb.values.Value(null_value=pb.values.NULL_VALUE) if temp is None
              else pb.values.Value(double_value=temp)}
    for name, value in (extra or {}).items():
        values[name] = pb.values.Value(double_value=value)
    update.upsert.SetInParent()
    for name, value in values.items():
        update.upsert.values[name].CopyFrom(value)
    return update


def batch(pb, source: str, first: int, updates: list):
    return pb.replication.UpdateBatch(source=source, first_sequence=first, updates=updates)


def check_alive(region: Region, when: str) -> None:
    time.sleep(0.1)  # a crash right after the answer shows up here
    if not region.running():
        pytest.fail(f"{region.name}: the server died {when}: exit {region.process.returncode}\n"
                    f"{region.describe(last=1)}", pytrace=False)


@pytest.fixture
def rules_region(pb, release_bin, regions):
    region = regions("rules", release_bin)
    region.start()
    yield region
    region.stop()


def test_gap_is_failed_precondition_naming_the_expected_sequence(pb, rules_region):
    source = "rules-gap"
    with grpc.insecure_channel(rules_region.address) as channel:
        stream = Stream(pb, channel)
        stream.send(batch(pb, source, 1, [weather_update(pb, "EWR", 1_700_000_000 + i) for i in range(3)]))
        ack = stream.ack()
        assert (ack.source, ack.first_sequence, ack.applied_sequence, ack.written) == (source, 1, 3, 3), ack
        stream.send(batch(pb, source, 10, [weather_update(pb, "JFK", 1_700_000_100)]))
        stream.close()
        error, acks = stream.error()
    assert not acks, f"a gap batch was acked: {acks}"
    check_alive(rules_region, f"after a gap (the client saw {error.code()}: {error.details()})")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, f"{error.code()}: {error.details()}"
    assert "sequence 4" in error.details(), (
        f"the gap error does not name the expected sequence 4: {error.details()!r}")
    position = get_position(pb, rules_region.address, source)
    assert position_tuple(position) == (3, 3, 0, 0), f"after the gap: {position}"


def test_invalid_batch_is_invalid_argument_and_applies_nothing(pb, rules_region):
    source = "rules-invalid"
    with grpc.insecure_channel(rules_region.address) as channel:
        stream = Stream(pb, channel)
        stream.send(batch(pb, source, 1, [weather_update(pb, "EWR", 1_700_000_000),
                                          weather_update(pb, "JFK", 1_700_000_000)]))
        ack = stream.ack()
        assert (ack.first_sequence, ack.applied_sequence, ack.written, ack.superseded, ack.duplicates) == (
            1, 2, 2, 0, 0), f"first batch: {ack}"
        # Update 2 (0-based, sequence 5) names a feature the view lacks; updates 0 and 1 are valid.
        bad = batch(pb, source, 3, [weather_update(pb, "LGA", 1_700_000_010),
                                    weather_update(pb, "EWR", 1_700_000_020),
                                    weather_update(pb, "JFK", 1_700_000_030, extra={"no_such_feature": 1.0}),
                                    weather_update(pb, "LGA", 1_700_000_040)])
        stream.send(bad)
        stream.close()
        error, acks = stream.error()
    assert not acks, f"the invalid batch was acked: {acks}"
    check_alive(rules_region, f"after an invalid batch (the client saw {error.code()}: {error.details()})")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{error.code()}: {error.details()}"
    assert "update 2" in error.details() and "no_such_feature" in error.details(), (
        f"the error does not name update 2 and the feature: {error.details()!r}")
    assert "sequence 5" in error.details() or "first_sequence 3" in error.details(), error.details()
    position = get_position(pb, rules_region.address, source)
    assert position_tuple(position) == (2, 2, 0, 0), (
        f"after the invalid batch: {position_tuple(position)}; expected only the first batch applied")
    # Nothing of the invalid batch reached the rows: EWR and LGA keep their first-batch state.
    with grpc.insecure_channel(rules_region.address) as channel:
        response = pb.serving_grpc.FeatureServingStub(channel).GetFeatures(pb.serving.GetFeaturesRequest(
            feature_refs=pb.serving.FeatureRefs(refs=["weather:temp"]),
            rows=[pb.serving.EntityRow(keys={"origin": pb.values.Value(string_value=o)}) for o in ("EWR", "LGA")]),
            timeout=RPC_TIMEOUT)
    ewr, lga = (row.views[0] for row in response.rows)
    assert ewr.event_time.seconds == 1_700_000_000, f"EWR changed by a refused batch: {ewr}"
    assert status_name(pb, lga.status) == "NOT_FOUND", f"LGA written by a refused batch: {lga}"


def test_resent_overlap_is_acked_with_duplicates_and_acks_are_in_order(pb, rules_region):
    source = "rules-overlap"
    base = 1_700_000_000
    with grpc.insecure_channel(rules_region.address) as channel:
        stream = Stream(pb, channel)
        stream.send(batch(pb, source, 1, [weather_update(pb, "EWR", base + i) for i in range(4)]))
        first = stream.ack()
        assert (first.first_sequence, first.applied_sequence, first.written) == (1, 4, 4), first
        # Resend 3..4 with 5..6: two duplicates, two new; then a batch that lost (older event) and an empty one.
        stream.send(batch(pb, source, 3, [weather_update(pb, "EWR", base + i) for i in (2, 3, 4, 5)]))
        stream.send(batch(pb, source, 7, [weather_update(pb, "EWR", base - 100),
                                          weather_update(pb, "JFK", base, delete=True)]))
        stream.send(batch(pb, source, 9, []))
        stream.send(batch(pb, source, 9, [weather_update(pb, "LGA", base + i) for i in range(5)]))
        stream.close()
        acks = list(stream.call)
    got = [(a.source, a.first_sequence, a.applied_sequence, a.written, a.superseded, a.duplicates) for a in acks]
    assert got == [
        (source, 3, 6, 2, 0, 2),
        (source, 7, 8, 1, 1, 0),  # the old EWR event is superseded; the JFK delete leaves a tombstone
        (source, 9, 8, 0, 0, 0),  # an empty batch acks the current position
        (source, 9, 13, 5, 0, 0),
    ], f"acks (source, first_sequence, applied_sequence, written, superseded, duplicates): {got}"
    applied = [first.applied_sequence] + [a.applied_sequence for a in acks]
    assert applied == sorted(applied), f"acks out of order: {applied}"
    position = get_position(pb, rules_region.address, source)
    assert position_tuple(position) == (13, 12, 1, 2), f"position {position_tuple(position)}"
    assert position.written + position.superseded == position.applied_sequence

    # The same overlap on a new stream, and a wholly resent batch: only duplicates.
    with grpc.insecure_channel(rules_region.address) as channel:
        stream = Stream(pb, channel)
        stream.send(batch(pb, source, 1, [weather_update(pb, "EWR", base + i) for i in range(4)]))
        stream.close()
        acks = list(stream.call)
    assert [(a.first_sequence, a.applied_sequence, a.written, a.superseded, a.duplicates) for a in acks] == [
        (1, 13, 0, 0, 4)], acks
    assert position_tuple(get_position(pb, rules_region.address, source)) == (13, 12, 1, 6)
