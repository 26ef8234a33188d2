"""Stock grpcio clients against the real `freshet serve`, with the nycflights example data.

Expected answers are computed here from the source files (registry.json, the CSV tables, weather_updates.jsonl and
requests.jsonl), never from the server.
"""

from __future__ import annotations

import calendar
import copy
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc
import pytest

if TYPE_CHECKING:
    from conftest import ViewUse

# Every call has a deadline, so a hung server fails the test instead of hanging the run.
RPC_TIMEOUT = 30.0

DELAY_MODEL_VIEWS = ["planes", "origin_airport", "dest_airport", "airlines", "weather"]
WEATHER_FEATURES = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]


# --------------------------------------------------------------------------------------------------------------------
# Helpers


def iso_seconds(text: str) -> int:
    """'2013-10-19T03:00:00Z' -> Unix seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def key_value(pb, value):
    """A request join key value: None -> null_value, int -> int64_value, str -> string_value."""
    if value is None:
        return pb.values.Value(null_value=pb.values.NULL_VALUE)
    if isinstance(value, int):
        return pb.values.Value(int64_value=value)
    return pb.values.Value(string_value=value)


def entity_row(pb, keys: dict):
    return pb.serving.EntityRow(keys={name: key_value(pb, value) for name, value in keys.items()})


def service_request(pb, rows: list[dict], service: str = "delay_model", **extra):
    return pb.serving.GetFeaturesRequest(
        feature_service=service, rows=[entity_row(pb, keys) for keys in rows], **extra)


def refs_request(pb, refs: list[str], rows: list[dict], **extra):
    return pb.serving.GetFeaturesRequest(
        feature_refs=pb.serving.FeatureRefs(refs=refs), rows=[entity_row(pb, keys) for keys in rows], **extra)


def actual(value) -> tuple:
    """A response Value as (kind, python value); (None, None) when missing."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return (None, None)
    if kind == "null_value":
        return ("null_value", None)
    return (kind, getattr(value, kind))


def expected(feature_type: str, raw) -> tuple:
    """A source value as the server must send it. `raw` is CSV text ('' = null) or a JSON value (None = null)."""
    if raw is None or raw == "":
        return ("null_value", None)
    if feature_type == "int64":
        return ("int64_value", int(raw))
    if feature_type == "double":
        return ("double_value", float(raw))
    if feature_type == "string":
        return ("string_value", raw)
    raise AssertionError(f"the tests do not know feature type {feature_type!r}")


def status_name(pb, status: int) -> str:
    return pb.values.FeatureStatus.Name(status)


def header_of(view: ViewUse) -> tuple:
    return (view.name, view.view, list(view.join_keys), list(view.features))


def check_header(response, uses: list[ViewUse]) -> None:
    got = [(h.name, h.view, list(h.join_keys), list(h.features)) for h in response.views]
    want = [header_of(use) for use in uses]
    assert got == want, f"response.views differ:\n got: {got}\nwant: {want}"


def expected_view(nyc, use: ViewUse, keys: dict) -> tuple[str, list[tuple] | None, dict | None]:
    """(status, expected values or None for NOT_FOUND, source record) of one view use for one request row."""
    (key_name,) = use.join_keys
    key = keys.get(key_name)
    if use.view == "weather":
        record = nyc.weather_last.get(key) if key is not None else None
        if record is None:
            return "NOT_FOUND", None, None
        values = [expected(nyc.feature_type[("weather", f)], record["features"][f]) for f in use.features]
        return "STALE", values, record  # the newest observation is from 2013 and max_age is 2h
    record = nyc.tables[use.view].get(key) if key is not None else None
    if record is None:
        return "NOT_FOUND", None, None
    values = [expected(nyc.feature_type[(use.view, f)], record[f]) for f in use.features]
    return "PRESENT", values, record  # static tables: max_age 0 = never stale


def row_problems(pb, nyc, uses: list[ViewUse], keys: dict, result, index: int,
                 statuses_only: bool = False) -> list[str]:
    """Everything that differs between one RowResult and what the source files say."""
    problems = []
    where = f"row {index} {keys}"
    if len(result.views) != len(uses):
        return [f"{where}: {len(result.views)} view results, expected {len(uses)}"]
    for use, got in zip(uses, result.views):
        want_status, want_values, _ = expected_view(nyc, use, keys)
        got_status = status_name(pb, got.status)
        if got_status != want_status:
            problems.append(f"{where} {use.name}: status {got_status}, expected {want_status} "
                            f"(values {[actual(v) for v in got.values]})")
            continue
        if len(got.values) != len(use.features):
            problems.append(f"{where} {use.name}: {len(got.values)} values, expected {len(use.features)}")
            continue
        if want_status == "NOT_FOUND":
            missing = [(f, actual(v)) for f, v in zip(use.features, got.values) if v.WhichOneof("kind") is not None]
            if missing:
                problems.append(f"{where} {use.name}: NOT_FOUND with values set (must be missing): {missing}")
            for stamp in ("event_time", "ingest_time"):
                if got.HasField(stamp):
                    problems.append(f"{where} {use.name}: NOT_FOUND with {stamp} set ({getattr(got, stamp)})")
            continue
        for stamp in ("event_time", "ingest_time"):
            if not got.HasField(stamp):
                problems.append(f"{where} {use.name}: {want_status} without {stamp}")
        if statuses_only:
            continue
        for feature, want, value in zip(use.features, want_values, got.values):
            if actual(value) != want:
                problems.append(f"{where} {use.name}.{feature}: got {actual(value)!r}, expected {want!r}")
    return problems


def check_rows(pb, nyc, uses, rows: list[dict], response, statuses_only: bool = False) -> None:
    assert len(response.rows) == len(rows), f"{len(response.rows)} result rows for {len(rows)} request rows"
    problems = []
    for index, (keys, result) in enumerate(zip(rows, response.rows)):
        problems += row_problems(pb, nyc, uses, keys, result, index, statuses_only)
    if problems:
        pytest.fail(f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:25]))


def rpc_error(call, code: grpc.StatusCode, *fragments: str) -> grpc.RpcError:
    """Runs `call`, which must fail with `code` and details containing every fragment (case-insensitive)."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    error = info.value
    details = error.details() or ""
    assert error.code() == code, f"expected {code.name}, got {error.code().name} with details {details!r}"
    for fragment in fragments:
        assert fragment.lower() in details.lower(), f"{code.name} details {details!r} do not mention {fragment!r}"
    return error


def first_request(nyc, predicate) -> dict:
    for keys in nyc.requests:
        if predicate(keys):
            return keys
    raise AssertionError("no request in requests.jsonl matches")


def planes_year_null(nyc, keys) -> bool:
    plane = nyc.tables["planes"].get(keys["tailnum"])
    return plane is not None and plane["year"] == ""


# --------------------------------------------------------------------------------------------------------------------
# 1. Health


def test_health_check_server_and_feature_serving_are_serving(pb, health):
    for service in ("", "freshet.v1.FeatureServing"):
        reply = health.Check(pb.health.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT)
        assert reply.status == pb.health.HealthCheckResponse.SERVING, (
            f"Check(service={service!r}) returned "
            f"{pb.health.HealthCheckResponse.ServingStatus.Name(reply.status)}, expected SERVING")


def test_health_check_unknown_service_is_not_found(pb, health):
    rpc_error(lambda: health.Check(pb.health.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT),
              grpc.StatusCode.NOT_FOUND)


# --------------------------------------------------------------------------------------------------------------------
# 2. The delay_model feature service with real request rows


def test_delay_model_real_requests(pb, nyc, serving):
    uses = nyc.service("delay_model")
    assert [use.name for use in uses] == DELAY_MODEL_VIEWS
    rows = list(nyc.requests[:6])
    rows.append(first_request(nyc, lambda k: planes_year_null(nyc, k)))  # a plane with an empty `year`
    rows.append(first_request(nyc, lambda k: k["tailnum"] is not None and k["tailnum"] not in nyc.tables["planes"]))
    rows.append(first_request(nyc, lambda k: k["dest"] not in nyc.tables["airports"]))  # BQN, PSE, SJU or STT
    rows.append(first_request(nyc, lambda k: k["tailnum"] is None))  # a cancelled flight

    response = serving.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT)

    check_header(response, uses)
    check_rows(pb, nyc, uses, rows, response)

    # The chosen rows really exercise what they are meant to.
    planes_null_year = response.rows[6].views[0].values[0]
    assert planes_null_year.WhichOneof("kind") == "null_value", (
        f"plane {rows[6]['tailnum']} has an empty year in planes.csv; got {actual(planes_null_year)}")
    statuses = [[status_name(pb, v.status) for v in row.views] for row in response.rows]
    assert statuses[7][0] == "NOT_FOUND" and statuses[8][2] == "NOT_FOUND" and statuses[9][0] == "NOT_FOUND", statuses


def test_delay_model_first_10000_requests_equal_a_direct_join(pb, nyc, serving):
    """Replays the first 10,000 requests of requests.jsonl through delay_model, 500 rows per call: every result row
    equals what a direct join of the source tables gives (missing and null tailnums, unknown airports included)."""
    uses = nyc.service("delay_model")
    rows = nyc.requests[:10_000]
    assert len(rows) == 10_000, f"requests.jsonl has only {len(rows)} rows"
    counts = {"missing tailnum": 0, "unknown plane": 0}
    for start in range(0, len(rows), 500):
        batch = rows[start:start + 500]
        response = serving.GetFeatures(service_request(pb, batch), timeout=RPC_TIMEOUT)
        check_rows(pb, nyc, uses, batch, response)
        for keys in batch:
            if keys["tailnum"] is None:
                counts["missing tailnum"] += 1
            elif keys["tailnum"] not in nyc.tables["planes"]:
                counts["unknown plane"] += 1
    # The replay really covered the hard cases, not only planes that are found.
    assert counts["missing tailnum"] > 0 and counts["unknown plane"] > 0, counts


def test_delay_model_value_kinds_follow_registry_types(pb, nyc, serving):
    rows = nyc.requests[:50]
    response = serving.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT)
    kinds = {"int64": "int64_value", "double": "double_value", "string": "string_value"}
    uses = nyc.service("delay_model")
    problems = []
    for index, row in enumerate(response.rows):
        for use, view in zip(uses, row.views):
            for feature, value in zip(use.features, view.values):
                kind = value.WhichOneof("kind")
                want = kinds[nyc.feature_type[(use.view, feature)]]
                if view.status == pb.values.NOT_FOUND:
                    if kind is not None:
                        problems.append(f"row {index} {use.name}.{feature}: NOT_FOUND value has kind {kind}")
                elif kind not in (want, "null_value"):
                    problems.append(f"row {index} {use.name}.{feature}: kind {kind}, expected {want} or null_value")
    assert not problems, "\n".join(problems[:25])


# --------------------------------------------------------------------------------------------------------------------
# 3. Explicit feature refs


def test_feature_refs_group_by_view_and_join_by_entity_keys(pb, nyc, serving):
    refs = ["planes:seats", "airports:tz", "planes:year", "airlines:name", "weather:temp", "airports:name",
            "planes:speed", "weather:wind_gust", "airports:tzone", "airports:lat"]
    uses = nyc.refs(refs)
    assert [(u.name, u.features) for u in uses] == [
        ("planes", ["seats", "year", "speed"]), ("airports", ["tz", "name", "tzone", "lat"]), ("airlines", ["name"]),
        ("weather", ["temp", "wind_gust"])]
    plane_with_speed = next(t for t, p in nyc.tables["planes"].items() if p["speed"] != "")
    rows = [
        {"tailnum": "N14228", "faa": "EWR", "carrier": "UA", "origin": "EWR"},
        {"tailnum": plane_with_speed, "faa": "JFK", "carrier": "AA", "origin": "JFK"},
        {"tailnum": "NOPE123", "faa": "SJU", "carrier": "ZZ", "origin": "LGA"},
        # Keys the request does not need are ignored; `dest` is not a key of any ref'd view here.
        {"tailnum": "N24211", "faa": "LAX", "carrier": "DL", "origin": "LGA", "dest": "IAH"},
        {"tailnum": "N10156", "faa": "EEN", "carrier": "9E", "origin": "EWR"},  # EEN has an empty tzone
    ]
    response = serving.GetFeatures(refs_request(pb, refs, rows), timeout=RPC_TIMEOUT)
    check_header(response, uses)
    check_rows(pb, nyc, uses, rows, response)
    assert actual(response.rows[4].views[1].values[2]) == ("null_value", None), "EEN tzone must be null_value"


def test_feature_refs_do_not_use_service_aliases(pb, serving):
    # With refs, airports is joined by its own key `faa`; `origin`/`dest` (the delay_model aliases) do not count.
    request = refs_request(pb, ["airports:name"], [{"origin": "EWR", "dest": "IAH"}])
    rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT, "faa")


# --------------------------------------------------------------------------------------------------------------------
# 4. Freshness


def test_weather_is_latest_observation_per_origin_and_stale(pb, nyc, serving):
    refs = [f"weather:{f}" for f in WEATHER_FEATURES]
    origins = ["EWR", "JFK", "LGA"]
    response = serving.GetFeatures(refs_request(pb, refs, [{"origin": o} for o in origins]), timeout=RPC_TIMEOUT)
    assert [h.features for h in response.views] == [WEATHER_FEATURES]
    assert len(response.rows) == 3, f"{len(response.rows)} rows for 3 origins"
    for origin, row in zip(origins, response.rows):
        latest = nyc.weather_last[origin]
        view = row.views[0]
        assert status_name(pb, view.status) == "STALE", (
            f"{origin}: status {status_name(pb, view.status)}, expected STALE (last observation "
            f"{latest['event_time']}, max_age {nyc.view_max_age['weather']})")
        assert (view.event_time.seconds, view.event_time.nanos) == (iso_seconds(latest["event_time"]), 0), (
            f"{origin}: event_time {view.event_time.ToJsonString()}, expected {latest['event_time']}")
        assert view.HasField("ingest_time"), f"{origin}: STALE row without ingest_time"
        got = {f: actual(v) for f, v in zip(WEATHER_FEATURES, view.values)}
        want = {f: expected("double", latest["features"][f]) for f in WEATHER_FEATURES}
        assert got == want, f"{origin} (observation of {latest['event_time']}): got {got}\nexpected {want}"


def test_static_planes_are_present_with_load_time(pb, nyc, serving, load_window):
    assert nyc.view_max_age["planes"] == "0"
    response = serving.GetFeatures(refs_request(pb, ["planes:seats"], [{"tailnum": "N14228"}]), timeout=RPC_TIMEOUT)
    view = response.rows[0].views[0]
    assert status_name(pb, view.status) == "PRESENT", f"planes N14228: {status_name(pb, view.status)}"
    event = view.event_time.seconds + view.event_time.nanos / 1e9
    ingest = view.ingest_time.seconds + view.ingest_time.nanos / 1e9
    # CSV rows get the load time as event_time (1 s slack for clock granularity).
    assert load_window.started - 1 <= event <= load_window.finished + 1, (
        f"event_time {view.event_time.ToJsonString()} is not within the load "
        f"({load_window.started:.3f} .. {load_window.finished:.3f})")
    assert event <= ingest <= load_window.finished + 1, (
        f"ingest_time {view.ingest_time.ToJsonString()} not between event_time and the end of the load")


def test_max_staleness_makes_fresh_rows_stale(pb, nyc, serving):
    rows = [{"tailnum": "N14228", "origin": "EWR"}, {"tailnum": "NOPE123", "origin": "JFK"}]
    refs = ["planes:seats", "weather:temp"]
    first = serving.GetFeatures(refs_request(pb, refs, rows), timeout=RPC_TIMEOUT)
    plane = first.rows[0].views[0]
    assert status_name(pb, plane.status) == "PRESENT"
    # Wait until the plane row is surely older than 1 s (it was loaded at the start of the session).
    age = time.time() - (plane.event_time.seconds + plane.event_time.nanos / 1e9)
    if age < 1.5:
        time.sleep(1.5 - age)

    stale_request = refs_request(pb, refs, rows)
    stale_request.max_staleness.FromSeconds(1)
    response = serving.GetFeatures(stale_request, timeout=RPC_TIMEOUT)
    got = [[status_name(pb, v.status) for v in row.views] for row in response.rows]
    assert got == [["STALE", "STALE"], ["NOT_FOUND", "STALE"]], f"statuses with max_staleness=1s: {got}"
    stale_plane = response.rows[0].views[0]
    assert actual(stale_plane.values[0]) == ("int64_value", 149), "STALE rows still carry their values"
    assert stale_plane.event_time == plane.event_time and stale_plane.ingest_time == plane.ingest_time

    # max_staleness only tightens: a long one does not make 2013 weather fresh, and planes stay PRESENT.
    lenient = refs_request(pb, refs, rows)
    lenient.max_staleness.FromSeconds(100 * 365 * 86400)
    response = serving.GetFeatures(lenient, timeout=RPC_TIMEOUT)
    got = [[status_name(pb, v.status) for v in row.views] for row in response.rows]
    assert got == [["PRESENT", "STALE"], ["NOT_FOUND", "STALE"]], f"statuses with max_staleness=100y: {got}"


# --------------------------------------------------------------------------------------------------------------------
# 5. Bad input


@pytest.mark.parametrize("path", ["/freshet.v1.FeatureServing/Nope", "/no.Such/Service"])
def test_unknown_method_is_unimplemented(channel, path):
    call = channel.unary_unary(path)  # no serializers: raw bytes
    rpc_error(lambda: call(b"", timeout=RPC_TIMEOUT), grpc.StatusCode.UNIMPLEMENTED, path)


def test_bytes_that_are_not_a_request_are_invalid_argument(channel):
    call = channel.unary_unary("/freshet.v1.FeatureServing/GetFeatures")
    rpc_error(lambda: call(b"\xff\xff\xff", timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT,
              "GetFeaturesRequest")


def test_unknown_feature_service_is_invalid_argument(pb, serving):
    request = service_request(pb, [{"tailnum": "N14228"}], service="no_such_model")
    rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT,
              "no_such_model")


@pytest.mark.parametrize("ref, named", [
    ("nosuchview:seats", "nosuchview"),
    ("planes:nosuchfeature", "nosuchfeature"),
    ("planes.seats", "planes.seats"),  # no ':'
    ("planes:", "planes:"),
    (":seats", ":seats"),
])
def test_bad_feature_ref_is_invalid_argument(pb, serving, ref, named):
    request = refs_request(pb, ["planes:year", ref], [{"tailnum": "N14228"}])
    rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT, named)


def test_request_without_features_is_invalid_argument(pb, serving):
    request = pb.serving.GetFeaturesRequest(rows=[entity_row(pb, {"tailnum": "N14228"})])
    rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT)


def good_row(nyc, index=0) -> dict:
    return dict(nyc.requests[index])


def test_wrong_join_key_type_names_row_and_key(pb, nyc, serving):
    rows = [good_row(nyc, 0), good_row(nyc, 1), {**good_row(nyc, 2), "tailnum": 14228}]  # int64_value for a string
    request = service_request(pb, rows)
    error = rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT,
                      "tailnum")
    assert re.search(r"\brows?\W*2\b", error.details()), f"details {error.details()!r} do not name row 2"


def test_row_missing_a_join_key_names_row_and_key(pb, nyc, serving):
    missing = good_row(nyc, 3)
    del missing["dest"]
    rows = [good_row(nyc, 0), good_row(nyc, 1), good_row(nyc, 2), missing]
    request = service_request(pb, rows)
    error = rpc_error(lambda: serving.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT,
                      "dest")
    assert re.search(r"\brows?\W*3\b", error.details()), f"details {error.details()!r} do not name row 3"


def test_null_tailnum_is_not_found_for_planes_only(pb, nyc, serving):
    cancelled = first_request(nyc, lambda k: k["tailnum"] is None)
    rows = [good_row(nyc, 0), cancelled, good_row(nyc, 1)]
    uses = nyc.service("delay_model")
    response = serving.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT)
    check_rows(pb, nyc, uses, rows, response)
    got = [status_name(pb, v.status) for v in response.rows[1].views]
    assert got == ["NOT_FOUND", "PRESENT", "PRESENT", "PRESENT", "STALE"], f"cancelled flight {cancelled}: {got}"


def test_unknown_entities_are_not_found(pb, nyc, serving):
    assert "NOPE123" not in nyc.tables["planes"] and "SJU" not in nyc.tables["airports"]
    rows = [
        {"tailnum": "NOPE123", "origin": "JFK", "dest": "LAX", "carrier": "AA"},
        {"tailnum": "N14228", "origin": "JFK", "dest": "SJU", "carrier": "B6"},
    ]
    uses = nyc.service("delay_model")
    response = serving.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT)
    check_rows(pb, nyc, uses, rows, response)
    got = [[status_name(pb, v.status) for v in row.views] for row in response.rows]
    assert got == [["NOT_FOUND", "PRESENT", "PRESENT", "PRESENT", "STALE"],
                   ["PRESENT", "PRESENT", "NOT_FOUND", "PRESENT", "STALE"]], got


def test_max_rows_limit(pb, nyc, start_server):
    limited = start_server("--max-rows", "50")
    with grpc.insecure_channel(limited.address) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        rows = nyc.requests[:51]
        response = stub.GetFeatures(service_request(pb, rows[:50]), timeout=RPC_TIMEOUT)
        assert len(response.rows) == 50, f"50 rows (the limit) gave {len(response.rows)} results"
        error = rpc_error(lambda: stub.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT),
                          grpc.StatusCode.INVALID_ARGUMENT, "50")
        assert "51" in error.details(), f"details {error.details()!r} do not say the request had 51 rows"


def test_message_over_max_message_bytes_is_resource_exhausted(pb, nyc, start_server):
    limited = start_server("--max-message-bytes", "64KiB")
    options = [("grpc.max_send_message_length", 16 << 20)]
    with grpc.insecure_channel(limited.address, options=options) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        # ~200 KB in one unused key (keys the request does not need are ignored).
        big = service_request(pb, [{**good_row(nyc), "padding": "x" * 200_000}])
        assert big.ByteSize() > 200_000
        rpc_error(lambda: stub.GetFeatures(big, timeout=RPC_TIMEOUT), grpc.StatusCode.RESOURCE_EXHAUSTED)
        # The connection survives: the same channel serves the next call.
        response = stub.GetFeatures(service_request(pb, nyc.requests[:3]), timeout=RPC_TIMEOUT)
        assert len(response.rows) == 3, f"after RESOURCE_EXHAUSTED: {len(response.rows)} results for 3 rows"


def test_response_over_max_message_bytes_is_resource_exhausted(pb, nyc, start_server):
    limited = start_server("--max-message-bytes", "64KiB")
    with grpc.insecure_channel(limited.address) as channel:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        request = service_request(pb, nyc.requests[:500])  # ~36 KB in, ~200 KB out
        assert request.ByteSize() < 64 << 10
        rpc_error(lambda: stub.GetFeatures(request, timeout=RPC_TIMEOUT), grpc.StatusCode.RESOURCE_EXHAUSTED,
                  "response")
        response = stub.GetFeatures(service_request(pb, nyc.requests[:3]), timeout=RPC_TIMEOUT)
        assert len(response.rows) == 3, f"after RESOURCE_EXHAUSTED: {len(response.rows)} results for 3 rows"


def test_gzip_compressed_call_works_or_is_unimplemented(pb, nyc, serving):
    # A stock client configured for gzip: the server must either decompress it or refuse the encoding with
    # UNIMPLEMENTED (gRPC spec: "compression.md"), never fail otherwise.
    rows = nyc.requests[:20]
    try:
        response = serving.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT,
                                       compression=grpc.Compression.Gzip)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED, (
            f"gzip request: {error.code().name} {error.details()!r}, expected success or UNIMPLEMENTED")
        assert "gzip" in (error.details() or ""), f"UNIMPLEMENTED details {error.details()!r} do not name gzip"
    else:
        check_rows(pb, nyc, nyc.service("delay_model"), rows, response)


def test_expired_deadline_is_deadline_exceeded(pb, nyc, serving):
    # grpcio may report this client-side (the deadline passes before or while the call is sent); the server-side
    # check of `grpc-timeout: 1n` is covered by the Swift end-to-end tests.
    request = service_request(pb, nyc.requests[:1000])
    rpc_error(lambda: serving.GetFeatures(request, timeout=0.001), grpc.StatusCode.DEADLINE_EXCEEDED)
    # The shared channel still works afterwards.
    response = serving.GetFeatures(service_request(pb, nyc.requests[:2]), timeout=RPC_TIMEOUT)
    assert len(response.rows) == 2


# --------------------------------------------------------------------------------------------------------------------
# 6.-7. Concurrency and large batches

THREADS = 8
CALLS_PER_THREAD = 50
ROWS_PER_CALL = 100


def run_concurrently(pb, nyc, stubs: list) -> None:
    uses = nyc.service("delay_model")
    failures: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> int:
        seed = 1000 + index
        rng = random.Random(seed)
        stub = stubs[index % len(stubs)]
        calls = 0
        for call in range(CALLS_PER_THREAD):
            rows = rng.sample(nyc.requests, ROWS_PER_CALL)
            try:
                response = stub.GetFeatures(service_request(pb, rows), timeout=RPC_TIMEOUT)
                check_header(response, uses)
                check_rows(pb, nyc, uses, rows, response, statuses_only=call % 5 != 0)
            except (grpc.RpcError, AssertionError, pytest.fail.Exception) as error:
                message = (f"{error.code().name}: {error.details()}" if isinstance(error, grpc.RpcError)
                           else str(error))
                with lock:
                    failures.append(f"thread {index} (seed {seed}) call {call}: {message}")
                return calls
            calls += 1
        return calls

    with ThreadPoolExecutor(THREADS) as pool:
        completed = list(pool.map(worker, range(THREADS)))
    if failures:
        pytest.fail(f"{len(failures)} of {THREADS} threads failed:\n" + "\n".join(failures))
    assert completed == [CALLS_PER_THREAD] * THREADS, completed


def test_concurrent_calls_on_one_shared_channel(pb, nyc, serving):
    run_concurrently(pb, nyc, [serving])


def test_concurrent_calls_on_separate_channels(pb, nyc, address):
    channels = [grpc.insecure_channel(address) for _ in range(THREADS)]
    try:
        run_concurrently(pb, nyc, [pb.serving_grpc.FeatureServingStub(c) for c in channels])
    finally:
        for c in channels:
            c.close()


def test_batch_of_1000_rows_in_order(pb, nyc, serving):
    rows = nyc.requests[1000:2000]
    uses = nyc.service("delay_model")
    request = service_request(pb, rows)
    assert request.ByteSize() > 16384, "the request must span several HTTP/2 DATA frames"
    response = serving.GetFeatures(request, timeout=RPC_TIMEOUT)
    assert response.ByteSize() > 16384
    check_header(response, uses)
    check_rows(pb, nyc, uses, rows, response)


# --------------------------------------------------------------------------------------------------------------------
# 8. Shutdown


def test_sigterm_with_an_open_channel_exits_zero(pb, nyc, start_server):
    drain = 5
    server = start_server("--drain-timeout", f"{drain}s")
    channel = grpc.insecure_channel(server.address)
    try:
        stub = pb.serving_grpc.FeatureServingStub(channel)
        response = stub.GetFeatures(service_request(pb, nyc.requests[:5]), timeout=RPC_TIMEOUT)
        assert len(response.rows) == 5
        # The channel keeps its HTTP/2 connection open while the server is told to stop.
        code, waited = server.terminate(timeout=drain + 5)
        print(f"exited {code} {waited:.2f} s after SIGTERM")
        assert code is not None, f"no exit within {drain + 5} s of SIGTERM (drain timeout {drain}s)\n{server.describe()}"
        assert code == 0, f"exit code {code} after SIGTERM, expected 0\n{server.describe()}"
    finally:
        channel.close()


# --------------------------------------------------------------------------------------------------------------------
# The admin API (freshet.v1.Admin) from a stock client


def test_admin_registry_api_with_stock_grpcio(pb, nyc, freshet_bin, tmp_path):
    from conftest import launch, stop_and_check

    # Its own data directory: a registry change must not reach the session's shared store.
    server = launch(pb, freshet_bin, tmp_path / "data", tmp_path / "serve", [])
    try:
        with grpc.insecure_channel(server.address) as channel:
            admin = pb.admin_grpc.AdminStub(channel)
            state = admin.GetRegistry(pb.admin.GetRegistryRequest(), timeout=RPC_TIMEOUT)
            assert state.version == 1
            assert json.loads(state.registry_json) == nyc.registry
            assert state.serves_all and list(state.served_services) == ["delay_model", "weather_model"]
            assert [view.name for view in state.stored_views] == ["planes", "airports", "airlines", "weather"]

            registry = copy.deepcopy(nyc.registry)
            registry["feature_services"].append(
                {"name": "airline_model", "views": [{"view": "airlines", "features": ["name"]}]})
            request = pb.admin.ApplyRegistryRequest(registry_json=json.dumps(registry), version=2, dry_run=True)
            checked = admin.ApplyRegistry(request, timeout=RPC_TIMEOUT)
            assert checked.changed and checked.version == 1, "a dry run changes nothing"
            request.dry_run = False
            applied = admin.ApplyRegistry(request, timeout=RPC_TIMEOUT)
            assert applied.changed and applied.version == 2
            serving = pb.serving_grpc.FeatureServingStub(channel)
            response = serving.GetFeatures(
                service_request(pb, [{"carrier": "UA"}], service="airline_model"), timeout=RPC_TIMEOUT)
            assert status_name(pb, response.rows[0].views[0].status) == "NOT_FOUND", "served live, nothing loaded"

            retyped = copy.deepcopy(registry)
            for view in retyped["feature_views"]:
                for feature in view["features"]:
                    if view["name"] == "planes" and feature["name"] == "seats":
                        feature["type"] = "string"
            retyped_request = pb.admin.ApplyRegistryRequest(registry_json=json.dumps(retyped), version=3)
            rpc_error(lambda: admin.ApplyRegistry(retyped_request, timeout=RPC_TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT, "feature 'seats' changes type from int64 to string")
            taken = pb.admin.ApplyRegistryRequest(registry_json=json.dumps(nyc.registry), version=2)
            rpc_error(lambda: admin.ApplyRegistry(taken, timeout=RPC_TIMEOUT), grpc.StatusCode.FAILED_PRECONDITION, "holds a different registry as version 2")
            assert admin.GetRegistry(pb.admin.GetRegistryRequest(), timeout=RPC_TIMEOUT).version == 2
    finally:
        stop_and_check(server)


def test_snapshot_pulled_with_stock_grpcio_is_an_lmdb_store(pb, freshet_bin, tmp_path):
    from conftest import launch, stop_and_check

    server = launch(pb, freshet_bin, tmp_path / "data", tmp_path / "serve", ["--max-message-bytes", "64KiB"])
    try:
        with grpc.insecure_channel(server.address) as channel:
            admin = pb.admin_grpc.AdminStub(channel)
            info = admin.CreateSnapshot(pb.admin.CreateSnapshotRequest(), timeout=RPC_TIMEOUT)
            assert info.id and info.bytes > 0 and info.registry_version == 1
            data = b""
            while True:
                chunk = admin.ReadSnapshot(
                    pb.admin.ReadSnapshotRequest(id=info.id, offset=len(data)), timeout=RPC_TIMEOUT)
                assert len(chunk.data) <= 64 * 1024, "a chunk fits the server's message limit"
                data += chunk.data
                if chunk.end:
                    break
            assert len(data) == info.bytes
            assert data[16:20] == bytes([0xDE, 0xC0, 0xEF, 0xBE]), "an LMDB data file (meta page magic)"
            admin.DeleteSnapshot(pb.admin.DeleteSnapshotRequest(id=info.id), timeout=RPC_TIMEOUT)
            missing = pb.admin.ReadSnapshotRequest(id=info.id)
            rpc_error(lambda: admin.ReadSnapshot(missing, timeout=RPC_TIMEOUT), grpc.StatusCode.NOT_FOUND,
                      f"no snapshot '{info.id}'")
    finally:
        stop_and_check(server)
