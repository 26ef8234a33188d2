#!/usr/bin/env python3
"""A reference `freshet.v1.FeatureServing` server on stock Python grpcio, for side-by-side benchmarks.

It answers `GetFeatures` from an in-memory dict, with the same semantics as `freshet serve` for the common case
(feature services with aliases and join-key mapping, `view:feature` refs, NOT_FOUND for unknown and null keys, the
response header, the INVALID_ARGUMENT table), and the standard `grpc.health.v1.Health/Check`.

    python Benchmarks/peers/grpcio_server.py --registry examples/nycflights/registry.json \\
        --load planes=examples/nycflights/planes.csv --load airports=examples/nycflights/airports.csv \\
        --port 0 [--workers 8] [--max-rows 10000]

Prints exactly one line, `listening 127.0.0.1:PORT`, to standard output once it serves; everything else goes to
standard error. SIGTERM or SIGINT stops it (health turns NOT_SERVING, open calls get a short grace period, exit 0).

How it is made fair (see README.md next to this file):
- The stubs are generated at start-up with grpc_tools.protoc from `<repo>/proto`, and the server is the stock
  synchronous `grpc.server(futures.ThreadPoolExecutor(N))` with the generated servicer base class.
- Every row of every loaded file is parsed once at start-up into a ready-made `ViewResult` message (status PRESENT,
  the `Value` of every feature, `event_time` and `ingest_time`); a feature-service projection that returns a subset
  or a reordering of a view's features gets its own pre-built dict. A request only looks rows up in dicts and copies
  the pre-built messages into the response (`CopyFrom`, done in C by upb); nothing hand-encodes protobuf bytes.

Differences from `freshet serve` (documented, not hidden):
- Rows live in memory, loaded from CSV (and, as an extra, Freshet's JSONL update format) at start-up; there is no
  store, no `freshet load` while serving, no schema history (so no "missing" values for rows that predate a feature).
- Staleness: a view's `max_age` and the request's `max_staleness` are honoured (one comparison per view per request
  in the usual case, where all rows of a view share their load time), so rows turn STALE as in Freshet.
- Not implemented: `--max-message-bytes` semantics (grpcio's own limits, raised to 64 MiB, give RESOURCE_EXHAUSTED),
  the 511-byte key limit, NUL-byte checks on names (a name with a NUL simply matches nothing: INVALID_ARGUMENT for
  an unknown service or ref), health `Watch`, `--drain-timeout`, the JSON logs. Error messages follow Freshet's
  wording but are not guaranteed to match byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import importlib
import json
import math
import os
import re
import signal
import struct
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[2]
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SERVING_SERVICE = "freshet.v1.FeatureServing"
HEALTH_SERVICE = "grpc.health.v1.Health"

FEATURE_TYPES = {"int64", "double", "float", "bool", "string", "bytes",
                 "int64_list", "double_list", "float_list", "bool_list", "string_list", "bytes_list"}
KEY_TYPES = {"string", "int64"}


class LoadError(Exception):
    """A problem with the registry, a data file or the command line; the message names it."""


def log(message: str) -> None:
    print(f"grpcio_server: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------------
# Generated code


def generate_stubs(proto_dir: Path, out_dir: Path):
    """Runs grpc_tools.protoc (in-process) on proto/ and imports the modules.

    freshet/v1/*.proto keep their package layout. health.proto is compiled from its own folder into top-level
    `health_pb2`/`health_pb2_grpc` modules, because a generated `grpc.health.v1` package would be shadowed by grpcio's
    own `grpc` package; the messages keep their full names (`grpc.health.v1.Health`).
    """
    import importlib.resources

    from grpc_tools import protoc

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")

    def run(include: Path, *files: str) -> None:
        args = ["grpc_tools.protoc", f"-I{include}", f"-I{well_known}",
                f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
        code = protoc.main(args)
        if code != 0:
            raise LoadError(f"grpc_tools.protoc failed (exit {code}): {' '.join(args[1:])}")

    run(proto_dir, "freshet/v1/values.proto", "freshet/v1/serving.proto")
    stubs = {}
    sys.path.insert(0, str(out_dir))
    stubs["values"] = importlib.import_module("freshet.v1.values_pb2")
    stubs["serving"] = importlib.import_module("freshet.v1.serving_pb2")
    stubs["serving_grpc"] = importlib.import_module("freshet.v1.serving_pb2_grpc")
    try:  # grpcio-health-checking, when installed, is the stock implementation
        from grpc_health.v1 import health as health_impl
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        stubs["health_impl"] = health_impl
    except ImportError:
        run(proto_dir / "grpc" / "health" / "v1", "health.proto")
        health_pb2 = importlib.import_module("health_pb2")
        health_pb2_grpc = importlib.import_module("health_pb2_grpc")
        stubs["health_impl"] = None
    stubs["health"] = health_pb2
    stubs["health_grpc"] = health_pb2_grpc
    return stubs


# --------------------------------------------------------------------------------------------------------------------
# Registry


class View:
    def __init__(self, name: str, entity: str, keys: list[tuple[str, str]], features: list[tuple[str, str]],
                 max_age_ns: int | None):
        self.name = name
        self.entity = entity
        self.keys = keys  # [(join key name, "string" | "int64")]
        self.features = features  # [(feature name, type)]
        self.feature_index = {feature: index for index, (feature, _) in enumerate(features)}
        self.max_age_ns = max_age_ns  # None: never stale
        self.rows: dict = {}  # entity key -> ViewResult with every feature, in registry order
        self.oldest_ns: int | None = None  # event_time range of the rows (for one-comparison staleness)
        self.newest_ns: int | None = None


_DURATION_PART = re.compile(r"(\d+)(ms|us|ns|d|h|m|s)")
_DURATION_NS = {"d": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9,
                "ms": 10**6, "us": 10**3, "ns": 1}


def parse_duration(text: str, where: str) -> int | None:
    """'90s', '2h', '1h30m', '7d' -> nanoseconds; '0', '' or None -> None (never stale)."""
    if text is None or text in ("", "0"):
        return None
    position, total = 0, 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            raise LoadError(f"{where}: '{text}' is not a duration such as 90s, 2h, 1h30m or 7d")
        total += int(match.group(1)) * _DURATION_NS[match.group(2)]
        position = match.end()
    return total or None


def load_registry(path: Path):
    """Returns (views by name, services by name as [projection dict])."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LoadError(f"{path}: cannot read the registry: {error}") from error
    problems = []
    entities = {}
    for entity in document.get("entities", []):
        keys = [(key["name"], key.get("type", "string")) for key in entity.get("join_keys", [])]
        for name, kind in keys:
            if kind not in KEY_TYPES:
                problems.append(f"entity '{entity['name']}': join key '{name}' has unknown type '{kind}'")
        if not keys:
            problems.append(f"entity '{entity['name']}' has no join keys")
        entities[entity["name"]] = keys
    views = {}
    for view in document.get("feature_views", []):
        name = view["name"]
        if view.get("entity") not in entities:
            problems.append(f"feature view '{name}' has unknown entity '{view.get('entity')}'")
            continue
        features = [(feature["name"], feature["type"]) for feature in view.get("features", [])]
        for feature, kind in features:
            if kind not in FEATURE_TYPES:
                problems.append(f"feature '{name}:{feature}' has unknown type '{kind}'")
        try:
            max_age = parse_duration(view.get("max_age"), f"feature view '{name}': max_age")
        except LoadError as error:
            problems.append(str(error))
            max_age = None
        views[name] = View(name, view["entity"], entities[view["entity"]], features, max_age)
    services = {}
    for service in document.get("feature_services", []):
        for projection in service.get("views", []):
            view = views.get(projection.get("view"))
            if view is None:
                problems.append(f"feature service '{service['name']}' uses unknown feature view "
                                f"'{projection.get('view')}'")
                continue
            for feature in projection.get("features", []):
                if feature not in view.feature_index:
                    problems.append(f"feature service '{service['name']}' uses unknown feature "
                                    f"'{view.name}:{feature}'")
        services[service["name"]] = service.get("views", [])
    if problems:
        raise LoadError(f"{path}: " + "; ".join(problems))
    return views, services


# --------------------------------------------------------------------------------------------------------------------
# Data files


# One CSV field followed by its terminator: a quoted field ("" escapes a quote) or an unquoted one.
_CSV_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def csv_records(text: str, file: str):
    """Yields (line number, [field]) per RFC 4180 record; an unquoted empty field is None, everything else a str.

    Records end with \\n or \\r\\n; a record without a quote takes the fast path (str.split).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    position, line, end = 0, 1, len(text)
    while position < end:
        newline = text.find("\n", position)
        if newline < 0:
            newline = end
        physical = text[position:newline]
        if '"' not in physical:
            if physical.endswith("\r"):
                physical = physical[:-1]
            yield line, [field if field else None for field in physical.split(",")]
            position, line = newline + 1, line + 1
            continue
        first_line, fields = line, []
        while True:
            match = _CSV_FIELD.match(text, position)
            quoted = match.group(1)
            if quoted is not None:
                line += quoted.count("\n")
                fields.append(quoted.replace('""', '"'))
            else:
                fields.append(match.group(2) or None)
            position = match.end()
            if position >= end:
                break
            char = text[position]
            if char == ",":
                position += 1
                continue
            if char == "\n":
                position += 1
                break
            if char == "\r" and (position + 1 == end or text[position + 1] == "\n"):
                position += 2
                break
            raise LoadError(f"{file}:{line}: malformed CSV field (a quote inside an unquoted field, or text after "
                            f"a closing quote)")
        yield first_line, fields
        line += 1


def parse_double(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or "_" in text or text != text.strip():
        raise ValueError(f"'{text[:60]}' is not a finite decimal number")
    return number


def check_float(number: float, shown) -> float:
    narrow = struct.unpack("<f", struct.pack("<f", number))[0] if abs(number) < 3.5e38 else math.inf
    if not math.isfinite(narrow) or (narrow == 0 and number != 0):
        raise ValueError(f"{shown} is out of range for float")
    return number


_INT = re.compile(r"[+-]?[0-9]+\Z")


def parse_int64(text: str) -> int:
    if not _INT.match(text) or not INT64_MIN <= int(text) <= INT64_MAX:
        raise ValueError(f"'{text[:60]}' is not an int64")
    return int(text)


def parse_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"'{text[:60]}' is not base64") from None


def json_element(kind: str, item):
    """One element of a JSON list (or a JSONL scalar) as a Python value of `kind`."""
    if kind == "int64":
        if isinstance(item, bool) or not isinstance(item, int) or not INT64_MIN <= item <= INT64_MAX:
            raise ValueError(f"{json.dumps(item)} is not an int64 (an integer from -2^63 to 2^63-1)")
        return item
    if kind in ("double", "float"):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise ValueError(f"expected a finite number, found {json.dumps(item)}")
        return check_float(float(item), json.dumps(item)) if kind == "float" else float(item)
    if kind == "bool":
        if not isinstance(item, bool):
            raise ValueError(f"expected a bool, found {json.dumps(item)}")
        return item
    if kind == "string":
        if not isinstance(item, str):
            raise ValueError(f"expected a string, found {json.dumps(item)}")
        return item
    if kind == "bytes":
        if not isinstance(item, str):
            raise ValueError(f"expected a base64 string, found {json.dumps(item)}")
        return parse_bytes(item)
    raise ValueError(f"unknown type {kind}")


class ValueFactory:
    """Builds `Value` messages from CSV text or JSON values, per the registry types."""

    def __init__(self, values_pb2):
        self.pb = values_pb2
        self.null = values_pb2.Value(null_value=values_pb2.NULL_VALUE)
        self.lists = {
            "int64_list": ("int64", values_pb2.Int64List), "double_list": ("double", values_pb2.DoubleList),
            "float_list": ("float", values_pb2.FloatList), "bool_list": ("bool", values_pb2.BoolList),
            "string_list": ("string", values_pb2.StringList), "bytes_list": ("bytes", values_pb2.BytesList),
        }

    def from_csv(self, kind: str, text):
        Value = self.pb.Value
        if text is None:
            return self.null
        if kind == "string":
            return Value(string_value=text)
        if kind == "int64":
            return Value(int64_value=parse_int64(text))
        if kind == "double":
            return Value(double_value=parse_double(text))
        if kind == "float":
            return Value(float_value=check_float(parse_double(text), f"'{text[:60]}'"))
        if kind == "bool":
            flag = text.lower()
            if flag not in ("true", "false", "1", "0"):
                raise ValueError(f"'{text[:60]}' is not a bool (true, false, 1 or 0)")
            return Value(bool_value=flag in ("true", "1"))
        if kind == "bytes":
            return Value(bytes_value=parse_bytes(text))
        try:
            document = json.loads(text, parse_constant=lambda name: float(name))
        except ValueError as error:
            raise ValueError(f"'{text[:60]}' is not a JSON array for {kind}: {error}") from None
        return self.from_json(kind, document)

    def from_json(self, kind: str, document):
        if document is None:
            return self.null
        if kind not in self.lists:
            value = json_element(kind, document)
            return self.pb.Value(**{f"{kind}_value": value})
        element, message = self.lists[kind]
        if not isinstance(document, list):
            raise ValueError(f"expected an array for {kind}, found {json.dumps(document)[:60]}")
        items = []
        for index, item in enumerate(document):
            if item is None:
                raise ValueError(f"element {index} of the {kind} is null; list elements cannot be null")
            try:
                items.append(json_element(element, item))
            except ValueError as error:
                raise ValueError(f"element {index} of the {kind}: {error}") from None
        return self.pb.Value(**{kind: message(values=items)})


def key_part(kind: str, text, name: str):
    if text is None or text == "":
        raise ValueError(f"join key '{name}' is empty")
    if kind == "int64":
        if isinstance(text, str):
            return parse_int64(text)
        return json_element("int64", text)
    if not isinstance(text, str):
        raise ValueError(f"join key '{name}' must be a string")
    if "\x00" in text:
        raise ValueError(f"join key '{name}' contains a NUL byte")
    return text


def parse_time_ns(text) -> int:
    """ISO 8601 (`2013-01-01T06:00:00Z`, with an offset, or none = UTC; a date alone is midnight UTC) -> Unix ns."""
    if not isinstance(text, str):
        raise ValueError(f"event time {json.dumps(text)} is not an ISO 8601 string")
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text[:60]}' is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


class DataLoader:
    def __init__(self, stubs):
        self.values = ValueFactory(stubs["values"])
        self.serving = stubs["serving"]
        self.present = stubs["values"].PRESENT

    def _store(self, view: View, key, values: list, event_ns: int, ingest_ns: int) -> None:
        """Adds one row as a ready-made ViewResult; the newest event wins (on a tie the later row)."""
        previous = view.rows.get(key)
        if previous is not None and previous.event_time.ToNanoseconds() > event_ns:
            return
        result = self.serving.ViewResult(status=self.present, values=values)
        result.event_time.FromNanoseconds(event_ns)
        result.ingest_time.FromNanoseconds(ingest_ns)
        view.rows[key] = result
        view.oldest_ns = event_ns if view.oldest_ns is None else min(view.oldest_ns, event_ns)
        view.newest_ns = event_ns if view.newest_ns is None else max(view.newest_ns, event_ns)

    def load(self, view: View, path: Path) -> int:
        started = time.time_ns()  # like `freshet load`: a CSV row's event_time and ingest_time are the load time
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise LoadError(f"{path}: cannot read: {error}") from error
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return self._load_jsonl(view, path, text, started)
        return self._load_csv(view, path, text, started)

    def _load_csv(self, view: View, path: Path, text: str, now_ns: int) -> int:
        records = csv_records(text, str(path))
        try:
            line, header = next(records)
        except StopIteration:
            raise LoadError(f"{path}:0: the file is empty; expected a header row") from None
        header = [name or "" for name in header]
        if len(set(header)) != len(header):
            duplicate = next(name for name in header if header.count(name) > 1)
            raise LoadError(f"{path}:{line}: column '{duplicate}' appears twice in the header")
        columns = {name: index for index, name in enumerate(header)}
        known = [name for name, _ in view.keys] + [name for name, _ in view.features]
        for name in header:
            if name not in known:
                raise LoadError(f"{path}:{line}: column '{name}' is not a join key or feature of view '{view.name}'")
        missing = [name for name in known if name not in columns]
        if missing:
            raise LoadError(f"{path}:{line}: the header lacks column(s) {', '.join(missing)} of view '{view.name}'")
        key_columns = [(columns[name], kind, name) for name, kind in view.keys]
        feature_columns = [(columns[name], kind, name) for name, kind in view.features]
        width = len(header)
        single = len(key_columns) == 1
        from_csv = self.values.from_csv
        count = 0
        for line, fields in records:
            if len(fields) != width:
                raise LoadError(f"{path}:{line}: expected {width} fields, found {len(fields)}")
            try:
                parts = [key_part(kind, fields[column], name) for column, kind, name in key_columns]
            except ValueError as error:
                raise LoadError(f"{path}:{line}: {error}") from None
            values = []
            for column, kind, name in feature_columns:
                try:
                    values.append(from_csv(kind, fields[column]))
                except ValueError as error:
                    raise LoadError(f"{path}:{line}: column '{name}': {error}") from None
            self._store(view, parts[0] if single else tuple(parts), values, now_ns, now_ns)
            count += 1
        return count

    def _load_jsonl(self, view: View, path: Path, text: str, now_ns: int) -> int:
        """Freshet's JSONL updates: {"entity": {...}, "event_time": "...", "features": {...}} per line."""
        count = 0
        single = len(view.keys) == 1
        for line, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                document = json.loads(raw)
                if not isinstance(document, dict):
                    raise ValueError("expected a JSON object")
                unknown = set(document) - {"entity", "event_time", "features"}
                if unknown:
                    raise ValueError(f"unknown member '{sorted(unknown)[0]}' (expected entity, event_time, features)")
                entity, features = document.get("entity"), document.get("features")
                if not isinstance(entity, dict) or not isinstance(features, dict):
                    raise ValueError("missing object 'entity' or 'features'")
                parts = []
                for name, kind in view.keys:
                    if name not in entity:
                        raise ValueError(f"entity lacks join key '{name}'")
                    parts.append(key_part(kind, entity[name], name))
                for name in features:
                    if name not in view.feature_index:
                        raise ValueError(f"feature '{name}' is not a feature of view '{view.name}'")
                values = []
                for name, kind in view.features:
                    if name not in features:
                        raise ValueError(f"feature '{name}' is missing (write null for a null value)")
                    try:
                        values.append(self.values.from_json(kind, features[name]))
                    except ValueError as error:
                        raise ValueError(f"feature '{name}': {error}") from None
                event_ns = parse_time_ns(document["event_time"]) if "event_time" in document else now_ns
            except ValueError as error:
                raise LoadError(f"{path}:{line}: {error}") from None
            self._store(view, parts[0] if single else tuple(parts), values, event_ns, now_ns)
            count += 1
        return count


# --------------------------------------------------------------------------------------------------------------------
# Query plans


class Projection:
    """One view as read by a plan: where its key comes from and which pre-built rows it copies."""

    __slots__ = ("name", "view", "slots", "single_slot", "rows", "subset", "not_found", "header")

    def __init__(self, name: str, view: View, slots: list[int], feature_indexes: list[int], header, not_found,
                 rows: dict | None):
        self.name = name
        self.view = view
        self.slots = slots  # indexes into the plan's request keys, one per entity join key
        self.single_slot = slots[0] if len(slots) == 1 else None
        # A dict of ready-made ViewResults with exactly this projection's features; or, when None, `subset` says
        # which of the view's full rows' values to copy (explicit refs choosing a subset: built per request).
        identity = feature_indexes == list(range(len(view.features)))
        self.rows = view.rows if identity else rows
        self.subset = None if self.rows is not None else feature_indexes
        self.not_found = not_found
        self.header = header


class Plan:
    __slots__ = ("request_keys", "projections", "headers")

    def __init__(self):
        self.request_keys: list[tuple[str, str]] = []  # (request key name, "string" | "int64"), first use order
        self.projections: list[Projection] = []
        self.headers: list = []


class PlanError(Exception):
    pass


class Planner:
    def __init__(self, stubs, views: dict[str, View]):
        self.serving = stubs["serving"]
        self.values = stubs["values"]
        self.views = views

    def _add(self, plan: Plan, name: str, view: View, request_key_names: list[str], feature_indexes: list[int],
             prebuild: bool) -> None:
        slots = []
        for (key, kind), request_name in zip(view.keys, request_key_names):
            for index, (existing, _) in enumerate(plan.request_keys):
                if existing == request_name:
                    slots.append(index)
                    break
            else:
                plan.request_keys.append((request_name, kind))
                slots.append(len(plan.request_keys) - 1)
        features = [view.features[index][0] for index in feature_indexes]
        header = self.serving.ViewHeader(name=name, view=view.name, join_keys=request_key_names, features=features)
        not_found = self.serving.ViewResult(status=self.values.NOT_FOUND,
                                            values=[self.values.Value() for _ in feature_indexes])
        rows = None
        if prebuild and feature_indexes != list(range(len(view.features))):
            rows = {}
            ViewResult = self.serving.ViewResult
            for key, full in view.rows.items():
                values = full.values
                result = ViewResult(status=full.status, values=[values[index] for index in feature_indexes])
                result.event_time.CopyFrom(full.event_time)
                result.ingest_time.CopyFrom(full.ingest_time)
                rows[key] = result
        plan.projections.append(Projection(name, view, slots, feature_indexes, header, not_found, rows))
        plan.headers.append(header)

    def service(self, name: str, projections: list[dict]) -> Plan:
        """The plan of a feature service, with pre-built rows for every projection (built once, at start-up)."""
        plan = Plan()
        for projection in projections:
            view = self.views[projection["view"]]
            mapping = projection.get("join_keys", {})
            self._add(plan, projection.get("as", view.name), view, [mapping.get(key, key) for key, _ in view.keys],
                      [view.feature_index[feature] for feature in projection["features"]], prebuild=True)
        return plan

    def refs(self, refs: list[str]) -> Plan:
        """The plan of explicit `view:feature` refs: grouped by view in first-appearance order, own key names."""
        if not refs:
            raise PlanError("no features requested: set feature_service or at least one feature ref")
        order: dict[str, list[int]] = {}
        for ref in refs:
            view_name, colon, feature = ref.partition(":")
            if not colon or not view_name or not feature:
                raise PlanError(f"feature ref '{ref}' is not of the form view:feature")
            view = self.views.get(view_name)
            if view is None:
                raise PlanError(f"feature ref '{ref}': unknown feature view '{view_name}'")
            index = view.feature_index.get(feature)
            if index is None:
                raise PlanError(f"feature ref '{ref}': view '{view_name}' has no feature '{feature}'")
            order.setdefault(view_name, []).append(index)
        plan = Plan()
        for view_name, indexes in order.items():
            view = self.views[view_name]
            self._add(plan, view_name, view, [key for key, _ in view.keys], indexes, prebuild=False)
        return plan


# --------------------------------------------------------------------------------------------------------------------
# The service


class FeatureServing:
    """`freshet.v1.FeatureServing` on in-memory dicts (the servicer base class is mixed in at start-up)."""

    def __init__(self, stubs, views: dict[str, View], services: dict[str, list[dict]], max_rows: int):
        self.serving = stubs["serving"]
        self.values = stubs["values"]
        self.planner = Planner(stubs, views)
        self.service_plans = {name: self.planner.service(name, projections) for name, projections in services.items()}
        self.ref_plans: dict[tuple, Plan] = {}
        self.ref_plans_lock = threading.Lock()
        self.max_rows = max_rows
        self.stale = self.values.STALE
        self.known_services = ", ".join(sorted(self.service_plans)) or "none"

    def _plan(self, request, context) -> Plan:
        which = request.WhichOneof("features")
        if which == "feature_service":
            plan = self.service_plans.get(request.feature_service)
            if plan is None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"unknown feature service '{request.feature_service}' "
                              f"(this server serves: {self.known_services})")
            return plan
        refs = tuple(request.feature_refs.refs) if which == "feature_refs" else ()
        plan = self.ref_plans.get(refs)
        if plan is None:
            try:
                plan = self.planner.refs(list(refs))
            except PlanError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            with self.ref_plans_lock:
                if len(self.ref_plans) >= 256:
                    self.ref_plans.clear()
                self.ref_plans[refs] = plan
        return plan

    def GetFeatures(self, request, context):
        plan = self._plan(request, context)
        rows = request.rows
        count = len(rows)
        if count > self.max_rows:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"the request has {count} rows; the limit is {self.max_rows} (--max-rows)")
        limit_ns = None
        if request.HasField("max_staleness"):
            limit_ns = request.max_staleness.ToNanoseconds()
            if limit_ns < 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"max_staleness must not be negative (it is {limit_ns / 1e9}s)")
            limit_ns = limit_ns or None  # zero: no limit

        # Column-wise, so that the per-row work is a few C calls inside list comprehensions:
        # 1. each request key's values over all rows (str, int, or None for null_value);
        columns = []
        for name, kind in plan.request_keys:
            wanted = "string_value" if kind == "string" else "int64_value"
            values = [row.keys.get(name) for row in rows]
            column = []
            append = column.append
            for value in values:
                which = value.WhichOneof("kind") if value is not None else None
                if which == wanted:
                    append(getattr(value, wanted))
                elif which == "null_value":
                    append(None)
                else:  # the first problem in row order, as Freshet reports it
                    self._abort_for_keys(rows, plan, context)
            columns.append(column)

        # 2. per projection, the pre-built ViewResult of every row (or the NOT_FOUND one). The dicts never hold an
        #    empty or null key (loads refuse them), so `get` answers NOT_FOUND for those too. Staleness is one
        #    comparison per view per request: `stale` is None (no row is stale), True (every row is) or a time
        #    (rows older than it are; only when a view holds rows of several event times).
        now = time.time_ns()
        results = []
        slow = []  # projections that need more than a copy: a subset of a view's features, or stale rows
        for position, projection in enumerate(plan.projections):
            view = projection.view
            limits = [limit for limit in (view.max_age_ns, limit_ns) if limit is not None]
            cut = now - min(limits) if limits else None
            stale = None
            if cut is not None and view.oldest_ns is not None and view.oldest_ns < cut:
                stale = True if view.newest_ns < cut else cut
            if projection.single_slot is not None:
                keys = columns[projection.single_slot]
            else:
                keys = list(zip(*(columns[slot] for slot in projection.slots)))
            not_found = projection.not_found
            get = (view.rows if projection.subset is not None else projection.rows).get
            results.append([get(key, not_found) for key in keys])
            if projection.subset is not None or stale is not None:
                slow.append((position, projection.subset, not_found, stale))

        # 3. the response: copies of the pre-built messages (upb's CopyFrom, in C).
        response = self.serving.GetFeaturesResponse()
        response.views.extend(plan.headers)
        add_row = response.rows.add
        if len(results) == 1:
            for found in results[0]:
                add_row().views.add().CopyFrom(found)
        else:
            for found_row in zip(*results):
                add_view = add_row().views.add
                for found in found_row:
                    add_view().CopyFrom(found)
        for position, subset, not_found, stale in slow:
            for row, found in zip(response.rows, results[position]):
                if found is not_found:
                    continue
                result = row.views[position]
                if subset is not None:  # copied whole above; keep the requested features, in request order
                    values = found.values
                    result.ClearField("values")
                    result.values.extend([values[index] for index in subset])
                if stale is not None and (stale is True or found.event_time.ToNanoseconds() < stale):
                    result.status = self.stale
        return response

    def _abort_for_keys(self, rows, plan: Plan, context):
        """Finds the first bad join key in row order and aborts with INVALID_ARGUMENT naming it."""
        for index, row in enumerate(rows):
            for name, kind in plan.request_keys:
                self._key(row.keys.get(name), name, kind, index, plan, context)
        raise AssertionError("no bad join key found")

    def _key(self, value, name: str, kind: str, row: int, plan: Plan, context):
        """A request key's Python value (str, int or None for null), or aborts with INVALID_ARGUMENT."""
        if value is None:
            users = [p.name for p in plan.projections if any(plan.request_keys[s][0] == name for s in p.slots)]
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"row {row}: missing join key '{name}' (needed by {', '.join(users)})")
        which = value.WhichOneof("kind")
        if which == "string_value":
            if kind == "string":
                return value.string_value
        elif which == "int64_value":
            if kind == "int64":
                return value.int64_value
        elif which == "null_value":
            return None
        expected = "a string (string_value)" if kind == "string" else "an int64 (int64_value)"
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"row {row}: join key '{name}' must be {expected}, got {which or 'no value'}")


# --------------------------------------------------------------------------------------------------------------------
# Health


def make_health(stubs):
    """Returns (servicer, set_serving(bool))."""
    health_pb2, health_grpc = stubs["health"], stubs["health_grpc"]
    if stubs["health_impl"] is not None:
        servicer = stubs["health_impl"].HealthServicer()

        def set_serving(serving: bool) -> None:
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            for service in ("", SERVING_SERVICE, HEALTH_SERVICE):
                servicer.set(service, status)

        return servicer, set_serving

    class Health(health_grpc.HealthServicer):
        serving = False

        def Check(self, request, context):
            if request.service not in ("", SERVING_SERVICE, HEALTH_SERVICE):
                context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service '{request.service}'")
            return health_pb2.HealthCheckResponse(
                status=health_pb2.HealthCheckResponse.SERVING if Health.serving
                else health_pb2.HealthCheckResponse.NOT_SERVING)

    def set_serving(serving: bool) -> None:
        Health.serving = serving

    return Health(), set_serving


# --------------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Reference freshet.v1.FeatureServing server on stock Python grpcio (benchmark peer).")
    parser.add_argument("--registry", required=True, type=Path, help="Freshet registry JSON")
    parser.add_argument("--load", action="append", default=[], metavar="VIEW=FILE",
                        help="load FILE (CSV; or Freshet JSONL when it ends in .jsonl) into VIEW; repeatable")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one; default 0)")
    parser.add_argument("--workers", type=int, default=8, help="ThreadPoolExecutor workers (default 8)")
    parser.add_argument("--max-rows", type=int, default=10_000, help="most rows per request (default 10000)")
    parser.add_argument("--proto", type=Path, default=REPO / "proto", help="proto/ directory (default <repo>/proto)")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds open calls get after SIGTERM (default 5)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.max_rows < 0:
        parser.error("--workers must be at least 1 and --max-rows not negative")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    signals = []

    def on_signal(number, _frame):
        signals.append(number)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with tempfile.TemporaryDirectory(prefix="freshet-grpcio-stubs-") as stub_dir:
        try:
            stubs = generate_stubs(args.proto, Path(stub_dir))
            views, services = load_registry(args.registry)
            loader = DataLoader(stubs)
            for spec in args.load:
                view_name, equals, file = spec.partition("=")
                if not equals or view_name not in views:
                    raise LoadError(f"--load {spec}: expected VIEW=FILE with a view of the registry "
                                    f"({', '.join(sorted(views))})")
                started = time.monotonic()
                count = loader.load(views[view_name], Path(file))
                log(f"loaded {count} rows into '{view_name}' from {file} in {time.monotonic() - started:.2f} s "
                    f"({len(views[view_name].rows)} distinct keys)")
            servicer_class = type("FeatureServingServicer",
                                  (FeatureServing, stubs["serving_grpc"].FeatureServingServicer), {})
            started = time.monotonic()
            servicer = servicer_class(stubs, views, services, args.max_rows)
            if services:
                log(f"built {len(services)} feature service plan(s) in {time.monotonic() - started:.2f} s")
        except LoadError as error:
            log(str(error))
            return 1
        if stop.is_set():
            return 0

        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a port in use is an error, as with `freshet serve`
        ]
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers), options=options)
        stubs["serving_grpc"].add_FeatureServingServicer_to_server(servicer, server)
        health, set_serving = make_health(stubs)
        stubs["health_grpc"].add_HealthServicer_to_server(health, server)
        host = f"[{args.host}]" if ":" in args.host else args.host
        try:
            port = server.add_insecure_port(f"{host}:{args.port}")
        except RuntimeError as error:
            port, reason = 0, error
        else:
            reason = "port in use?"
        if not port:
            log(f"cannot listen on {host}:{args.port}: {reason}")
            return 1
        server.start()
        set_serving(True)
        print(f"listening {host}:{port}", flush=True)

        while not stop.wait(0.5):
            pass
        set_serving(False)
        log(f"signal {signals[0]}: stopping (grace {args.grace:g} s)")
        server.stop(args.grace).wait()
        return 0


if __name__ == "__main__":
    sys.exit(main())
