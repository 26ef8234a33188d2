"""Tests of the grpcio benchmark peer (grpcio_server.py) with stock grpcio clients.

Run: .venv/bin/python -m pytest Benchmarks/peers -q

Each server is started as a subprocess on 127.0.0.1:0 (like the compare script will), on a tiny generated dataset
(every feature type, nulls, quoted CSV fields, a string, an int64 and a composite key) or on the nycflights example.
Expected answers come from the data written here or from the example files, never from the server.
"""

from __future__ import annotations

import base64
import csv
import importlib
import importlib.resources
import json
import signal
import struct
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import grpc
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER = HERE / "grpcio_server.py"
NYC = REPO / "examples" / "nycflights"
RPC_TIMEOUT = 30.0
START_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------------------------------
# Client stubs (generated independently of the server's own)


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("client-stubs")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    for include, files in ((REPO / "proto", ["freshet/v1/values.proto", "freshet/v1/serving.proto"]),
                           (REPO / "proto" / "grpc" / "health" / "v1", ["health.proto"])):
        result = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", f"-I{well_known}",
                                 f"--python_out={out}", f"--grpc_python_out={out}", *files],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    return types.SimpleNamespace(
        values=importlib.import_module("freshet.v1.values_pb2"),
        serving=importlib.import_module("freshet.v1.serving_pb2"),
        serving_grpc=importlib.import_module("freshet.v1.serving_pb2_grpc"),
        health=importlib.import_module("health_pb2"),
        health_grpc=importlib.import_module("health_pb2_grpc"),
    )


# --------------------------------------------------------------------------------------------------------------------
# Starting the peer


class Peer:
    def __init__(self, process: subprocess.Popen, address: str, stdout: Path, stderr: Path):
        self.process, self.address, self.stdout_path, self.stderr_path = process, address, stdout, stderr

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"the peer did not stop within 15 s of SIGTERM\n{self.stderr()}")
        return self.process.returncode


def start_process(workdir: Path, args: list[str]) -> tuple[subprocess.Popen, Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = workdir / "stdout", workdir / "stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, str(SERVER), *args], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err)
    return process, stdout, stderr


def launch(pb, workdir: Path, args: list[str]) -> Peer:
    process, stdout, stderr = start_process(workdir, ["--port", "0", *args])
    deadline = time.monotonic() + START_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        text = stdout.read_text()
        if "\n" in text or process.poll() is not None:
            break
        time.sleep(0.02)
    if not text.startswith("listening 127.0.0.1:"):
        process.kill()
        process.wait()
        pytest.fail(f"no 'listening' line (stdout {text!r}, exit {process.returncode})\n{stderr.read_text()}")
    peer = Peer(process, text.split()[1], stdout, stderr)
    with grpc.insecure_channel(peer.address) as channel:
        reply = pb.health_grpc.HealthStub(channel).Check(pb.health.HealthCheckRequest(), timeout=RPC_TIMEOUT)
        assert reply.status == pb.health.HealthCheckResponse.SERVING
    return peer


# --------------------------------------------------------------------------------------------------------------------
# A tiny dataset with every feature type

REGISTRY = {
    "entities": [
        {"name": "user", "join_keys": [{"name": "user_id", "type": "string"}]},
        {"name": "item", "join_keys": [{"name": "item_id", "type": "int64"}]},
        {"name": "user_item", "join_keys": [{"name": "user_id", "type": "string"}, {"name": "item_id", "type": "int64"}]},
        {"name": "sensor", "join_keys": [{"name": "sensor", "type": "string"}]},
    ],
    "feature_views": [
        {"name": "users", "entity": "user", "max_age": "0", "features": [
            {"name": "age", "type": "int64"}, {"name": "score", "type": "double"}, {"name": "weight", "type": "float"},
            {"name": "active", "type": "bool"}, {"name": "city", "type": "string"}, {"name": "blob", "type": "bytes"},
            {"name": "embedding", "type": "float_list"}, {"name": "counts", "type": "int64_list"},
            {"name": "ratios", "type": "double_list"}, {"name": "flags", "type": "bool_list"},
            {"name": "tags", "type": "string_list"}, {"name": "blobs", "type": "bytes_list"}]},
        {"name": "items", "entity": "item", "features": [
            {"name": "price", "type": "double"}, {"name": "title", "type": "string"}, {"name": "stock", "type": "int64"}]},
        {"name": "affinity", "entity": "user_item", "features": [{"name": "clicks", "type": "int64"}]},
        {"name": "readings", "entity": "sensor", "max_age": "1h", "features": [{"name": "temp", "type": "double"}]},
    ],
    "feature_services": [
        {"name": "ranker", "views": [
            {"view": "users", "features": ["city", "age", "embedding"]},
            {"view": "items", "as": "seen_item", "join_keys": {"item_id": "seen"}, "features": ["title", "price"]},
            {"view": "items", "as": "next_item", "join_keys": {"item_id": "next"},
             "features": ["price", "title", "stock"]},
            {"view": "affinity", "join_keys": {"item_id": "next"}, "features": ["clicks"]},
        ]},
        {"name": "users_all", "views": [{"view": "users", "features": [
            "age", "score", "weight", "active", "city", "blob", "embedding", "counts", "ratios", "flags", "tags",
            "blobs"]}]},
        {"name": "sensors", "views": [{"view": "readings", "features": ["temp"]}]},
    ],
}

B64_HELLO = base64.b64encode(b"hello\x00\xff").decode()
USERS_CSV = (
    "user_id,age,score,weight,active,city,blob,embedding,counts,ratios,flags,tags,blobs\r\n"
    f'u1,42,0.5,1.25,true,Paris,{B64_HELLO},"[0.1,0.2,0.3]","[1,-2,9007199254740993]","[1e-3,2.5]","[true,false]",'
    f'"[""a"",""b,c""]","[""{B64_HELLO}""]"\r\n'
    # nulls everywhere (unquoted empty), a quoted "" string, empty lists, TRUE/0 bools
    'u2,,,,0,"",,"[]","[]",,,"[]",\r\n'
    # a quoted field with a comma, a quote and a newline
    'u3,-7,-1.5,3.5,TRUE,"Saint-Denis, ""93""\nFrance",,"[1]",,,,,\n'
)
ITEMS_CSV = "stock,item_id,title,price\n5,100,Lamp,19.99\n0,-3,Negative key,0\n,200,No stock,\n"
AFFINITY_CSV = "user_id,item_id,clicks\nu1,100,7\nu1,200,\nu2,100,1\n"
READINGS_JSONL = (
    '{"entity": {"sensor": "s1"}, "event_time": "2020-01-01T00:00:00Z", "features": {"temp": 20.5}}\n'
    '{"entity": {"sensor": "s1"}, "event_time": "2019-01-01T00:00:00Z", "features": {"temp": -99}}\n'
    '\n'
    '{"entity": {"sensor": "s2"}, "event_time": "2020-01-01T00:00:00+01:00", "features": {"temp": null}}\n'
)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "registry.json").write_text(json.dumps(REGISTRY))
    (folder / "users.csv").write_bytes(USERS_CSV.encode())
    (folder / "items.csv").write_text(ITEMS_CSV)
    (folder / "affinity.csv").write_text(AFFINITY_CSV)
    (folder / "readings.jsonl").write_text(READINGS_JSONL)
    return folder


def tiny_args(folder: Path) -> list[str]:
    return ["--registry", str(folder / "registry.json"),
            "--load", f"users={folder / 'users.csv'}", "--load", f"items={folder / 'items.csv'}",
            "--load", f"affinity={folder / 'affinity.csv'}", "--load", f"readings={folder / 'readings.jsonl'}"]


@pytest.fixture(scope="session")
def peer(pb, tiny, tmp_path_factory):
    before = time.time_ns()
    server = launch(pb, tmp_path_factory.mktemp("peer"), tiny_args(tiny))
    server.started_ns, server.ready_ns = before, time.time_ns()
    yield server
    assert server.stop() == 0, server.stderr()


@pytest.fixture(scope="session")
def stub(pb, peer):
    with grpc.insecure_channel(peer.address) as channel:
        yield pb.serving_grpc.FeatureServingStub(channel)


# --------------------------------------------------------------------------------------------------------------------
# Helpers


def key(pb, value):
    if value is None:
        return pb.values.Value(null_value=pb.values.NULL_VALUE)
    if isinstance(value, int):
        return pb.values.Value(int64_value=value)
    if isinstance(value, float):
        return pb.values.Value(double_value=value)
    return pb.values.Value(string_value=value)


def request(pb, rows: list[dict], service: str | None = None, refs: list[str] | None = None, **extra):
    entity_rows = [pb.serving.EntityRow(keys={name: key(pb, value) for name, value in row.items()}) for row in rows]
    if refs is not None:
        return pb.serving.GetFeaturesRequest(feature_refs=pb.serving.FeatureRefs(refs=refs), rows=entity_rows, **extra)
    return pb.serving.GetFeaturesRequest(feature_service=service, rows=entity_rows, **extra)


def plain(value):
    """A response Value as (kind, python value); lists as Python lists; (None, None) when missing."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return (None, None)
    if kind == "null_value":
        return ("null", None)
    got = getattr(value, kind)
    if kind.endswith("_list"):
        got = list(got.values)
    return (kind, got)


def headers(response) -> list[tuple]:
    return [(h.name, h.view, list(h.join_keys), list(h.features)) for h in response.views]


def status(pb, result) -> str:
    return pb.values.FeatureStatus.Name(result.status)


def invalid(stub, req, *fragments: str) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetFeatures(req, timeout=RPC_TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    for fragment in fragments:
        assert fragment in caught.value.details(), caught.value.details()
    return caught.value.details()


# --------------------------------------------------------------------------------------------------------------------
# Tests on the tiny dataset


def test_listening_line_is_the_only_output(peer):
    lines = peer.stdout_path.read_text().splitlines()
    assert len(lines) == 1 and lines[0] == f"listening {peer.address}"


def test_every_type_and_null(pb, stub, peer):
    response = stub.GetFeatures(request(pb, [{"user_id": "u1"}, {"user_id": "u2"}, {"user_id": "u3"}],
                                        "users_all"), timeout=RPC_TIMEOUT)
    features = REGISTRY["feature_services"][1]["views"][0]["features"]
    assert headers(response) == [("users", "users", ["user_id"], features)]
    assert len(response.rows) == 3
    u1, u2, u3 = ({f: plain(v) for f, v in zip(features, row.views[0].values)} for row in response.rows)
    assert u1 == {
        "age": ("int64_value", 42), "score": ("double_value", 0.5), "weight": ("float_value", 1.25),
        "active": ("bool_value", True), "city": ("string_value", "Paris"), "blob": ("bytes_value", b"hello\x00\xff"),
        "embedding": ("float_list", [f32(0.1), f32(0.2), f32(0.3)]),
        "counts": ("int64_list", [1, -2, 9007199254740993]), "ratios": ("double_list", [0.001, 2.5]),
        "flags": ("bool_list", [True, False]), "tags": ("string_list", ["a", "b,c"]),
        "blobs": ("bytes_list", [b"hello\x00\xff"]),
    }
    assert u2 == {
        "age": ("null", None), "score": ("null", None), "weight": ("null", None), "active": ("bool_value", False),
        "city": ("string_value", ""), "blob": ("null", None), "embedding": ("float_list", []),
        "counts": ("int64_list", []), "ratios": ("null", None), "flags": ("null", None),
        "tags": ("string_list", []), "blobs": ("null", None),
    }
    assert u3["city"] == ("string_value", 'Saint-Denis, "93"\nFrance')
    assert u3["age"] == ("int64_value", -7) and u3["weight"] == ("float_value", 3.5)
    assert u3["active"] == ("bool_value", True) and u3["embedding"] == ("float_list", [1.0])
    for row in response.rows:
        result = row.views[0]
        assert status(pb, result) == "PRESENT"
        # event_time = ingest_time = the load time, within the server's start-up
        assert result.event_time == result.ingest_time
        assert peer.started_ns <= result.event_time.ToNanoseconds() <= peer.ready_ns


def test_service_projections_aliases_and_join_key_mapping(pb, stub):
    rows = [
        {"user_id": "u1", "seen": 100, "next": 200},
        {"user_id": "nobody", "seen": -3, "next": 100},
        {"user_id": None, "seen": None, "next": 999, "ignored": "extra keys are ignored"},
        {"user_id": "", "seen": 100, "next": 100},
    ]
    response = stub.GetFeatures(request(pb, rows, "ranker"), timeout=RPC_TIMEOUT)
    assert headers(response) == [
        ("users", "users", ["user_id"], ["city", "age", "embedding"]),
        ("seen_item", "items", ["seen"], ["title", "price"]),
        ("next_item", "items", ["next"], ["price", "title", "stock"]),
        ("affinity", "affinity", ["user_id", "next"], ["clicks"]),
    ]
    got = [[(status(pb, view), [plain(v) for v in view.values]) for view in row.views] for row in response.rows]
    missing = (None, None)
    assert got[0] == [
        ("PRESENT", [("string_value", "Paris"), ("int64_value", 42), ("float_list", [f32(0.1), f32(0.2), f32(0.3)])]),
        ("PRESENT", [("string_value", "Lamp"), ("double_value", 19.99)]),
        ("PRESENT", [("null", None), ("string_value", "No stock"), ("null", None)]),
        ("PRESENT", [("null", None)]),  # (u1, 200): a null feature, not a missing row
    ]
    assert got[1] == [
        ("NOT_FOUND", [missing] * 3),
        ("PRESENT", [("string_value", "Negative key"), ("double_value", 0.0)]),
        ("PRESENT", [("double_value", 19.99), ("string_value", "Lamp"), ("int64_value", 5)]),
        ("NOT_FOUND", [missing]),
    ]
    assert got[2] == [("NOT_FOUND", [missing] * 3), ("NOT_FOUND", [missing] * 2), ("NOT_FOUND", [missing] * 3),
                      ("NOT_FOUND", [missing])]  # null keys, and an unknown item
    assert got[3][0] == ("NOT_FOUND", [missing] * 3)  # an empty string key
    assert got[3][3] == ("NOT_FOUND", [missing])
    for row in response.rows:
        for view in row.views:
            if view.status == pb.values.NOT_FOUND:
                assert not view.HasField("event_time") and not view.HasField("ingest_time")


def test_feature_refs_group_by_view_in_first_appearance_order(pb, stub):
    refs = ["items:stock", "users:age", "items:title", "affinity:clicks", "users:tags"]
    response = stub.GetFeatures(request(pb, [{"user_id": "u1", "item_id": 100}, {"user_id": "u9", "item_id": 200}],
                                        refs=refs), timeout=RPC_TIMEOUT)
    assert headers(response) == [
        ("items", "items", ["item_id"], ["stock", "title"]),
        ("users", "users", ["user_id"], ["age", "tags"]),
        ("affinity", "affinity", ["user_id", "item_id"], ["clicks"]),
    ]
    first = [[plain(v) for v in view.values] for view in response.rows[0].views]
    assert first == [[("int64_value", 5), ("string_value", "Lamp")],
                     [("int64_value", 42), ("string_list", ["a", "b,c"])],
                     [("int64_value", 7)]]
    second = response.rows[1].views
    assert [status(pb, view) for view in second] == ["PRESENT", "NOT_FOUND", "NOT_FOUND"]
    assert [plain(v) for v in second[0].values] == [("null", None), ("string_value", "No stock")]
    # the same refs again (cached plan) and every feature of a view (a whole pre-built row)
    again = stub.GetFeatures(request(pb, [{"user_id": "u1", "item_id": 100}, {"user_id": "u9", "item_id": 200}],
                                     refs=refs), timeout=RPC_TIMEOUT)
    assert again.rows == response.rows
    whole = stub.GetFeatures(request(pb, [{"item_id": 100}], refs=["items:price", "items:title", "items:stock"]),
                             timeout=RPC_TIMEOUT)
    assert [plain(v) for v in whole.rows[0].views[0].values] == [
        ("double_value", 19.99), ("string_value", "Lamp"), ("int64_value", 5)]


def test_a_service_and_the_same_refs_agree(pb, stub):
    rows = [{"user_id": u} for u in ("u1", "u2", "u3", "zz")]
    by_service = stub.GetFeatures(request(pb, rows, "users_all"), timeout=RPC_TIMEOUT)
    refs = [f"users:{f}" for f in REGISTRY["feature_services"][1]["views"][0]["features"]]
    by_refs = stub.GetFeatures(request(pb, rows, refs=refs), timeout=RPC_TIMEOUT)
    assert by_service == by_refs


def test_no_rows_is_an_empty_answer(pb, stub):
    response = stub.GetFeatures(request(pb, [], "ranker"), timeout=RPC_TIMEOUT)
    assert len(response.views) == 4 and len(response.rows) == 0


def test_staleness(pb, stub):
    # readings: max_age 1h, newest event wins (the 2019 line came later but is older), JSONL event times
    response = stub.GetFeatures(request(pb, [{"sensor": "s1"}, {"sensor": "s2"}, {"sensor": "s3"}], "sensors"),
                                timeout=RPC_TIMEOUT)
    s1, s2, s3 = (row.views[0] for row in response.rows)
    assert status(pb, s1) == "STALE" and [plain(v) for v in s1.values] == [("double_value", 20.5)]
    assert s1.event_time.ToJsonString() == "2020-01-01T00:00:00Z"
    assert status(pb, s2) == "STALE" and [plain(v) for v in s2.values] == [("null", None)]
    assert s2.event_time.ToJsonString() == "2019-12-31T23:00:00Z"
    assert status(pb, s3) == "NOT_FOUND"
    # max_staleness: zero is no limit; a tiny one makes fresh rows STALE
    from google.protobuf.duration_pb2 import Duration
    fresh = stub.GetFeatures(request(pb, [{"user_id": "u1"}], "users_all", max_staleness=Duration(seconds=0)),
                             timeout=RPC_TIMEOUT)
    assert status(pb, fresh.rows[0].views[0]) == "PRESENT"
    time.sleep(0.01)
    old = stub.GetFeatures(request(pb, [{"user_id": "u1"}, {"user_id": "zz"}], "users_all",
                                   max_staleness=Duration(nanos=1_000_000)), timeout=RPC_TIMEOUT)
    assert [status(pb, row.views[0]) for row in old.rows] == ["STALE", "NOT_FOUND"]
    assert old.rows[0].views[0].values == fresh.rows[0].views[0].values


def test_invalid_arguments(pb, stub):
    invalid(stub, request(pb, [{"user_id": "u1"}], "no_such_service"), "no_such_service", "ranker")
    invalid(stub, pb.serving.GetFeaturesRequest(), "no features requested")
    invalid(stub, request(pb, [], refs=[]), "no features requested")
    invalid(stub, request(pb, [], refs=["users"]), "'users'", "view:feature")
    invalid(stub, request(pb, [], refs=["nope:age"]), "unknown feature view 'nope'")
    invalid(stub, request(pb, [], refs=["users:nope"]), "no feature 'nope'")
    invalid(stub, request(pb, [{"user_id": "u1", "seen": 1, "next": 2}, {"user_id": "u1", "seen": 1}], "ranker"),
            "row 1", "missing join key 'next'", "next_item", "affinity")
    invalid(stub, request(pb, [{"user_id": 5, "seen": 1, "next": 2}], "ranker"),
            "row 0", "'user_id'", "string", "int64_value")
    invalid(stub, request(pb, [{"user_id": "u1", "seen": "100", "next": 2}], "ranker"),
            "row 0", "'seen'", "int64", "string_value")
    invalid(stub, request(pb, [{"user_id": 1.5}], "users_all"), "row 0", "double_value")
    invalid(stub, request(pb, [{"user_id": "u1"}] * 3 + [{}, {"user_id": 7}], "users_all"),
            "row 3", "missing join key 'user_id'")
    from google.protobuf.duration_pb2 import Duration
    invalid(stub, request(pb, [{"user_id": "u1"}], "users_all", max_staleness=Duration(seconds=-1)),
            "max_staleness")


def test_max_rows_and_workers_flags(pb, tiny, tmp_path):
    server = launch(pb, tmp_path, [*tiny_args(tiny), "--max-rows", "3", "--workers", "1"])
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb.serving_grpc.FeatureServingStub(channel)
            assert len(stub.GetFeatures(request(pb, [{"user_id": "u1"}] * 3, "users_all"),
                                        timeout=RPC_TIMEOUT).rows) == 3
            invalid(stub, request(pb, [{"user_id": "u1"}] * 4, "users_all"), "4 rows", "limit is 3")
    finally:
        assert server.stop() == 0, server.stderr()


def test_default_max_rows(pb, stub):
    assert len(stub.GetFeatures(request(pb, [{"user_id": "u1"}] * 10_000, "users_all"),
                                timeout=RPC_TIMEOUT).rows) == 10_000
    invalid(stub, request(pb, [{"user_id": "u1"}] * 10_001, "users_all"), "10001 rows", "10000")


def test_health(pb, peer):
    with grpc.insecure_channel(peer.address) as channel:
        health = pb.health_grpc.HealthStub(channel)
        for service in ("", "freshet.v1.FeatureServing"):
            reply = health.Check(pb.health.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT)
            assert reply.status == pb.health.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(pb.health.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_concurrent_calls(pb, peer):
    failures = []

    def client(seed: int) -> None:
        try:
            with grpc.insecure_channel(peer.address) as channel:
                stub = pb.serving_grpc.FeatureServingStub(channel)
                for i in range(50):
                    user = ("u1", "u2", "u3", "zz")[(seed + i) % 4]
                    response = stub.GetFeatures(request(pb, [{"user_id": user}] * 20, refs=["users:age"]),
                                                timeout=RPC_TIMEOUT)
                    want = {"u1": ("int64_value", 42), "u2": ("null", None), "u3": ("int64_value", -7),
                            "zz": (None, None)}[user]
                    assert all(plain(row.views[0].values[0]) == want for row in response.rows)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


def test_bad_csv_names_file_and_line(tiny, tmp_path):
    bad = tmp_path / "items.csv"
    bad.write_text("item_id,title,price,stock\n1,ok,1.5,2\n2,bad,1.5,two\n")
    process, stdout, stderr = start_process(tmp_path / "run", [
        "--registry", str(tiny / "registry.json"), "--load", f"items={bad}"])
    assert process.wait(60) == 1
    assert stdout.read_text() == ""
    assert f"{bad}:3: column 'stock': 'two' is not an int64" in stderr.read_text()


def test_unknown_view_and_bad_header(tiny, tmp_path):
    process, _, stderr = start_process(tmp_path / "a", [
        "--registry", str(tiny / "registry.json"), "--load", f"nope={tiny / 'items.csv'}"])
    assert process.wait(60) == 1 and "nope" in stderr.read_text()
    process, _, stderr = start_process(tmp_path / "b", [
        "--registry", str(tiny / "registry.json"), "--load", f"users={tiny / 'items.csv'}"])
    assert process.wait(60) == 1 and "is not a join key or feature of view 'users'" in stderr.read_text()


def test_sigterm_with_a_client_connected(pb, tiny, tmp_path):
    server = launch(pb, tmp_path, tiny_args(tiny))
    with grpc.insecure_channel(server.address) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        stub.GetFeatures(request(pb, [{"user_id": "u1"}], "users_all"), timeout=RPC_TIMEOUT)
        started = time.monotonic()
        assert server.stop() == 0, server.stderr()
        assert time.monotonic() - started < 10


# --------------------------------------------------------------------------------------------------------------------
# The real example: nycflights


@pytest.fixture(scope="module")
def nyc_peer(pb, tmp_path_factory):
    server = launch(pb, tmp_path_factory.mktemp("nyc"), [
        "--registry", str(NYC / "registry.json"), "--load", f"planes={NYC / 'planes.csv'}",
        "--load", f"airports={NYC / 'airports.csv'}", "--load", f"airlines={NYC / 'airlines.csv'}"])
    yield server
    assert server.stop() == 0, server.stderr()


def csv_table(name: str) -> dict[str, dict[str, str]]:
    with open(NYC / f"{name}.csv", newline="") as file:
        reader = csv.DictReader(file)
        key = reader.fieldnames[0]
        return {row[key]: row for row in reader}


def expected(kind: str, text: str):
    if text == "":
        return ("null", None)
    return {"int64": lambda: ("int64_value", int(text)), "double": lambda: ("double_value", float(text)),
            "string": lambda: ("string_value", text)}[kind]()


def test_nycflights_delay_model(pb, nyc_peer):
    registry = json.loads((NYC / "registry.json").read_text())
    types_of = {(v["name"], f["name"]): f["type"] for v in registry["feature_views"] for f in v["features"]}
    planes, airports, airlines = csv_table("planes"), csv_table("airports"), csv_table("airlines")
    keys = {"tailnum": "N14228", "origin": "EWR", "dest": "IAH", "carrier": "UA"}
    with grpc.insecure_channel(nyc_peer.address) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        response = stub.GetFeatures(request(pb, [keys], "delay_model"), timeout=RPC_TIMEOUT)
    service = registry["feature_services"][0]["views"]
    assert headers(response) == [
        ("planes", "planes", ["tailnum"], service[0]["features"]),
        ("origin_airport", "airports", ["origin"], service[1]["features"]),
        ("dest_airport", "airports", ["dest"], service[2]["features"]),
        ("airlines", "airlines", ["carrier"], service[3]["features"]),
        ("weather", "weather", ["origin"], service[4]["features"]),
    ]
    sources = [("planes", planes["N14228"]), ("airports", airports["EWR"]), ("airports", airports["IAH"]),
               ("airlines", airlines["UA"])]
    row = response.rows[0]
    for header, result, (view, record) in zip(response.views, row.views, sources):
        assert status(pb, result) == "PRESENT", header.name
        want = [expected(types_of[(view, f)], record[f]) for f in header.features]
        assert [plain(v) for v in result.values] == want, header.name
    assert [plain(v) for v in row.views[0].values] == [
        ("int64_value", 1999), ("string_value", "Fixed wing multi engine"), ("string_value", "BOEING"),
        ("int64_value", 2), ("int64_value", 149)]
    # the peer loads only what it is given: no weather file here
    assert status(pb, row.views[4]) == "NOT_FOUND" and len(row.views[4].values) == 9


def test_nycflights_every_plane_and_a_large_response(pb, nyc_peer):
    """Every plane by feature refs (nulls included; each feature asked five times, which is allowed), in a response
    over grpcio's default 4 MiB limit."""
    planes = csv_table("planes")
    features = ["year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"]
    kinds = ["int64", "string", "string", "string", "int64", "int64", "int64", "string"]
    tailnums = sorted(planes)
    rows = [{"tailnum": t} for t in (tailnums * 4)[:10_000]]
    options = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(nyc_peer.address, options=options) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        response = stub.GetFeatures(request(pb, rows, refs=[f"planes:{f}" for f in features] * 5), timeout=RPC_TIMEOUT)
    assert response.ByteSize() > 4 << 20
    assert len(response.rows) == 10_000
    assert list(response.views[0].features) == features * 5
    for keys, row in zip(rows, response.rows):
        record = planes[keys["tailnum"]]
        want = [expected(k, record[f]) for f, k in zip(features, kinds)] * 5
        assert [plain(v) for v in row.views[0].values] == want
