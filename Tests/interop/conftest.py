"""Fixtures of the grpcio interop suite: stock Python gRPC clients against the real `freshet` binary.

- `pb`: Python stubs generated from proto/ with grpc_tools.protoc into a temporary directory.
- `nyc`: the nycflights example data (registry, CSV tables, latest weather per origin, request rows), read in Python
  to compute what the server must answer.
- `data_dir`: a temporary data directory holding all four nycflights tables, loaded with `freshet load`.
- `server` / `address`: one `freshet serve` on 127.0.0.1:0 for the whole session; stopped with SIGTERM at the end,
  which must exit 0.
- `start_server`: starts extra servers with other flags (e.g. `--max-rows 50`) on the same data directory.
- `channel` / `serving` / `health`: a shared `grpc.insecure_channel` to `server` and stock stubs on it.

The binary is `$FRESHET_BIN`, by default `<repo>/.build/debug/freshet` (`swift build --product freshet`).
"""

from __future__ import annotations

import csv
import importlib
import importlib.resources
import json
import os
import signal
import subprocess
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO = REPO / "proto"
EXAMPLES = REPO / "examples" / "nycflights"
REGISTRY = EXAMPLES / "registry.json"

# Every RPC of the suite carries a deadline, so a hung server fails a test instead of hanging the run.
RPC_TIMEOUT = 30.0
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


# --------------------------------------------------------------------------------------------------------------------
# Generated stubs


class Stubs(types.SimpleNamespace):
    def __repr__(self) -> str:
        return "<generated stubs>"


@pytest.fixture(scope="session")
def pb(tmp_path_factory) -> Stubs:
    """Generates the Python messages and gRPC stubs from proto/ and imports them.

    freshet/v1/*.proto keep their package layout (`freshet.v1.serving_pb2`). health.proto is compiled from its own
    directory into a top-level `health_pb2` module, because a `grpc.health.v1` package would be shadowed by grpcio's
    own `grpc` package; the messages and the service keep their full names (`grpc.health.v1.Health`).
    """
    out = tmp_path_factory.mktemp("stubs")
    well_known = importlib.resources.files("grpc_tools") / "_proto"

    def protoc(include: Path, *files: str) -> None:
        command = [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{include}", f"-I{well_known}",
            f"--python_out={out}", f"--grpc_python_out={out}",
            *files,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, (
            f"grpc_tools.protoc failed (exit {result.returncode}): {' '.join(command)}\n{result.stderr}"
        )

    protoc(PROTO, "freshet/v1/values.proto", "freshet/v1/serving.proto", "freshet/v1/replication.proto",
           "freshet/v1/admin.proto")
    protoc(PROTO / "grpc" / "health" / "v1", "health.proto")

    sys.path.insert(0, str(out))
    try:
        return Stubs(
            values=importlib.import_module("freshet.v1.values_pb2"),
            serving=importlib.import_module("freshet.v1.serving_pb2"),
            serving_grpc=importlib.import_module("freshet.v1.serving_pb2_grpc"),
            replication=importlib.import_module("freshet.v1.replication_pb2"),
            replication_grpc=importlib.import_module("freshet.v1.replication_pb2_grpc"),
            admin=importlib.import_module("freshet.v1.admin_pb2"),
            admin_grpc=importlib.import_module("freshet.v1.admin_pb2_grpc"),
            health=importlib.import_module("health_pb2"),
            health_grpc=importlib.import_module("health_pb2_grpc"),
        )
    except ImportError as error:
        pytest.fail(f"cannot import the stubs generated into {out}: {error!r}")


# --------------------------------------------------------------------------------------------------------------------
# The example data, as the tests expect to see it


@dataclass
class ViewUse:
    """One column group of a response: a view as joined by a request."""

    name: str  # ViewHeader.name (the alias, or the view name)
    view: str  # ViewHeader.view
    join_keys: list[str]  # ViewHeader.join_keys: the request key names, one per entity join key
    features: list[str]  # ViewHeader.features


@dataclass(repr=False)
class NycFlights:
    registry: dict
    # view -> [(feature, type)] in registry order
    view_features: dict[str, list[tuple[str, str]]]
    # view -> [(entity join key, type)]
    view_keys: dict[str, list[tuple[str, str]]]
    # view -> max_age text
    view_max_age: dict[str, str]
    # planes / airports / airlines: view -> key -> {column: CSV text}
    tables: dict[str, dict[str, dict[str, str]]]
    # origin -> the last line of weather_updates.jsonl for it (parsed JSON)
    weather_last: dict[str, dict]
    # the `entities` of every line of requests.jsonl, in file order
    requests: list[dict]
    # (view, feature) -> type
    feature_type: dict[tuple[str, str], str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<nycflights: {len(self.requests)} requests, tables {sorted(self.tables)}>"

    def service(self, name: str) -> list[ViewUse]:
        """The view uses of a feature service, as the response header must list them."""
        for service in self.registry["feature_services"]:
            if service["name"] == name:
                uses = []
                for projection in service["views"]:
                    view = projection["view"]
                    mapping = projection.get("join_keys", {})
                    uses.append(ViewUse(
                        name=projection.get("as", view),
                        view=view,
                        join_keys=[mapping.get(key, key) for key, _ in self.view_keys[view]],
                        features=list(projection["features"]),
                    ))
                return uses
        raise KeyError(f"no feature service {name!r} in {REGISTRY}")

    def refs(self, refs: list[str]) -> list[ViewUse]:
        """The view uses of explicit `view:feature` refs: grouped by view in order of first appearance, joined by
        the entity's own key names."""
        uses: dict[str, ViewUse] = {}
        for ref in refs:
            view, feature = ref.split(":", 1)
            if view not in uses:
                uses[view] = ViewUse(view, view, [key for key, _ in self.view_keys[view]], [])
            uses[view].features.append(feature)
        return list(uses.values())


@pytest.fixture(scope="session")
def nyc() -> NycFlights:
    registry = json.loads(REGISTRY.read_text())
    entity_keys = {
        entity["name"]: [(key["name"], key["type"]) for key in entity["join_keys"]] for entity in registry["entities"]
    }
    view_features, view_keys, view_max_age, feature_type = {}, {}, {}, {}
    for view in registry["feature_views"]:
        view_features[view["name"]] = [(f["name"], f["type"]) for f in view["features"]]
        view_keys[view["name"]] = entity_keys[view["entity"]]
        view_max_age[view["name"]] = view["max_age"]
        for f in view["features"]:
            feature_type[(view["name"], f["name"])] = f["type"]

    tables = {}
    for view in ("planes", "airports", "airlines"):
        with open(EXAMPLES / f"{view}.csv", newline="") as file:
            reader = csv.DictReader(file)
            key = reader.fieldnames[0]
            tables[view] = {row[key]: row for row in reader}

    weather_last = {}
    with open(EXAMPLES / "weather_updates.jsonl") as file:
        for line in file:
            update = json.loads(line)
            weather_last[update["entity"]["origin"]] = update  # ordered by event_time: the last line wins

    with open(EXAMPLES / "requests.jsonl") as file:
        requests = [json.loads(line)["entities"] for line in file]

    return NycFlights(registry, view_features, view_keys, view_max_age, tables, weather_last, requests, feature_type)


# --------------------------------------------------------------------------------------------------------------------
# The binary, the data directory and servers


@pytest.fixture(scope="session")
def freshet_bin() -> Path:
    path = Path(os.environ.get("FRESHET_BIN", REPO / ".build" / "debug" / "freshet"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"freshet binary not found at {path}: build it with `swift build --product freshet` "
            f"or set FRESHET_BIN", pytrace=False,
        )
    return path


@dataclass
class LoadWindow:
    """Wall-clock instants around the loads (the CSV tables get the load time as event_time)."""

    started: float
    finished: float


@pytest.fixture(scope="session")
def loaded(tmp_path_factory, freshet_bin) -> tuple[Path, LoadWindow]:
    data = tmp_path_factory.mktemp("freshet") / "data"
    started = time.time()
    loads = [
        ("planes", "--csv", EXAMPLES / "planes.csv"),
        ("airports", "--csv", EXAMPLES / "airports.csv"),
        ("airlines", "--csv", EXAMPLES / "airlines.csv"),
        ("weather", "--jsonl", EXAMPLES / "weather_updates.jsonl"),
    ]
    for view, flag, source in loads:
        command = [str(freshet_bin), "load", "--data", str(data), "--registry", str(REGISTRY),
                   "--view", view, flag, str(source)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (
            f"`{' '.join(command)}` exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return data, LoadWindow(started, time.time())


@pytest.fixture(scope="session")
def data_dir(loaded) -> Path:
    return loaded[0]


@pytest.fixture(scope="session")
def load_window(loaded) -> LoadWindow:
    return loaded[1]


class Server:
    """A running `freshet serve`; stdout and stderr go to files so they can be read at any time."""

    def __init__(self, process: subprocess.Popen, address: str, stdout: Path, stderr: Path, flags: list[str]):
        self.process = process
        self.address = address
        self.stdout_path = stdout
        self.stderr_path = stderr
        self.flags = flags
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError as error:
            return f"<cannot read {self.stderr_path}: {error}>"

    def describe(self) -> str:
        return f"freshet serve {' '.join(self.flags)} (pid {self.pid}, {self.address})\nserver stderr:\n{self.stderr()}"

    def terminate(self, timeout: float = STOP_TIMEOUT) -> tuple[int | None, float]:
        """Sends SIGTERM once and waits; returns (exit code or None on timeout, seconds waited)."""
        if self.process.poll() is not None:
            self.exit_code = self.process.returncode
            return self.exit_code, 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return self.exit_code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_until_serving(pb, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with grpc.insecure_channel(server.address) as channel:
        stub = pb.health_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            try:
                reply = stub.Check(pb.health.HealthCheckRequest(service=""), timeout=2)
                if reply.status == pb.health.HealthCheckResponse.SERVING:
                    return
                last = f"status {pb.health.HealthCheckResponse.ServingStatus.Name(reply.status)}"
            except grpc.RpcError as error:
                last = f"{error.code().name}: {error.details()}"
            time.sleep(0.05)
    pytest.fail(f"server never reported SERVING to Health/Check (last: {last}; exit code {server.process.poll()})\n"
                f"{server.describe()}", pytrace=False)


def launch(pb, freshet_bin: Path, data_dir: Path, workdir: Path, flags: list[str]) -> Server:
    """Starts `freshet serve` on 127.0.0.1:0, waits for its `listening HOST:PORT` line and for SERVING."""
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / "stdout", workdir / "stderr"
    command = [str(freshet_bin), "serve", "--data", str(data_dir), "--registry", str(REGISTRY),
               "--listen", "127.0.0.1:0", *flags]
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    server = Server(process, "", stdout_path, stderr_path, flags)

    deadline = time.monotonic() + START_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        text = stdout_path.read_text(errors="replace")
        if "\n" in text or process.poll() is not None:
            break
        time.sleep(0.02)
    lines = text.splitlines()
    if not lines or not lines[0].startswith("listening "):
        exit_code = process.poll()
        server.kill()
        what = (f"exited {exit_code} without printing" if exit_code is not None
                else f"did not print within {START_TIMEOUT:.0f} s")
        pytest.fail(
            f"`{' '.join(command)}` {what} 'listening HOST:PORT' (stdout {text!r})\n"
            f"server stderr:\n{server.stderr()}", pytrace=False,
        )
    server.address = lines[0].removeprefix("listening ").strip()
    assert ":" in server.address, f"unparsable listening line {lines[0]!r}"
    wait_until_serving(pb, server, START_TIMEOUT)
    return server


def stop_and_check(server: Server) -> None:
    code, waited = server.terminate()
    if code is None:
        server.kill()
        pytest.fail(f"server did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM\n{server.describe()}", pytrace=False)
    assert code == 0, f"server exited {code} after SIGTERM (expected 0) after {waited:.2f} s\n{server.describe()}"


@pytest.fixture(scope="session")
def start_server(pb, freshet_bin, data_dir, tmp_path_factory):
    """Factory: `start_server("--max-rows", "50")` starts another server on a copy of the session's data directory
    (one server per data directory: the main server holds its lock). Every server still running at the end of the
    session gets SIGTERM and must exit 0."""
    started: list[Server] = []

    def start(*flags: str) -> Server:
        workdir = tmp_path_factory.mktemp("serve")
        copy = workdir / "data"
        copy.mkdir()
        # mdb_copy reads in one transaction: a consistent copy even while the main server writes.
        subprocess.run(["mdb_copy", str(data_dir), str(copy)], check=True, capture_output=True, timeout=120)
        server = launch(pb, freshet_bin, copy, workdir, list(flags))
        started.append(server)
        return server

    yield start
    failures = []
    for server in started:
        if server.exit_code is not None or server.process.poll() is not None:
            continue  # a test stopped it and checked it
        try:
            stop_and_check(server)
        except BaseException as error:  # report every server, not just the first
            failures.append(str(error))
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="session")
def server(pb, freshet_bin, data_dir, tmp_path_factory):
    """The session's main server (default flags)."""
    main = launch(pb, freshet_bin, data_dir, tmp_path_factory.mktemp("serve-main"), [])
    yield main
    stop_and_check(main)


@pytest.fixture(scope="session")
def address(server) -> str:
    return server.address


@pytest.fixture(scope="session")
def channel(address):
    with grpc.insecure_channel(address) as shared:
        yield shared


@pytest.fixture(scope="session")
def serving(pb, channel):
    return pb.serving_grpc.FeatureServingStub(channel)


@pytest.fixture(scope="session")
def health(pb, channel):
    return pb.health_grpc.HealthStub(channel)
