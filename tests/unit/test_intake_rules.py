"""Open311 rules of intake: attribute validation, places, query filters, formats, media,
rate limits, duplicates."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain import ReportRejected
from services.intake.domain import open311 as spec
from services.intake.domain.attributes import check_attributes, open311_field
from services.intake.domain.duplicates import pick_duplicates
from services.intake.domain.media import check_photo, sniff_image
from services.intake.domain.places import Places
from services.intake.http.limits import RateLimiter, TokenBuckets
from services.intake.http.open311_render import to_xml
from services.intake.idempotency import body_fingerprint, issue_id_for_key
from services.intake.keys import hash_api_key, key_document, new_api_key
from shared.events.base import IssueId
from shared.http.errors import ApiError
from shared.reference import load_reference

pytestmark = pytest.mark.unit
REF = load_reference()
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
CODES = frozenset(REF.categories)


def _reject(fn, *args, **kwargs) -> ReportRejected:
    with pytest.raises(ReportRejected) as caught:
        fn(*args, **kwargs)
    return caught.value


# -- attributes ---------------------------------------------------------------------------------
def test_attributes_are_normalised_per_datatype():
    cat = REF.categories["water-outage"]
    answers = check_attributes(
        cat, {"started-at": "2026-11-28T07:00:00+08:00", "scope": cat.attributes[1].values[0].key}
    )
    assert answers["started-at"] == "2026-11-28T07:00:00+08:00"
    pests = REF.categories["pests"]
    keys = [v.key for v in pests.attributes[0].values][:2]
    assert check_attributes(pests, {"pest": keys}) == {"pest": keys}
    assert check_attributes(pests, {"pest": keys[0]}) == {"pest": [keys[0]]}
    lamp = REF.categories["streetlight-out"]
    assert check_attributes(lamp, {"lamps-out": "3", "pole-number": ""}) == {"lamps-out": "3"}


@pytest.mark.parametrize(
    ("code", "given", "field", "reason"),
    [
        ("water-pipe-burst", {"location-detail": "x"}, "attribute[severity]", "required"),
        (
            "water-pipe-burst",
            {"severity": "no", "location-detail": "x"},
            "severity]",
            "not_allowed",
        ),
        (
            "water-pipe-burst",
            {"severity": ["seeping", "spraying"], "location-detail": "x"},
            "severity]",
            "not_single",
        ),
        (
            "water-pipe-burst",
            {"severity": "seeping", "location-detail": "<b>"},
            "detail]",
            "markup",
        ),
        (
            "water-pipe-burst",
            {"severity": "seeping", "location-detail": "x" * 256},
            "detail]",
            "too_long",
        ),
        ("streetlight-out", {"lamps-out": "three"}, "attribute[lamps-out]", "not_a_number"),
        ("streetlight-out", {"lamps-out": "nan"}, "attribute[lamps-out]", "not_a_number"),
        ("water-outage", {"started-at": "noon", "scope": "x"}, "started-at]", "not_a_datetime"),
        ("pests", {"pest": ["rats", "rats"]}, "attribute[pest]", "repeated"),
        ("streetlight-out", {"colour": "red"}, "attribute[colour]", "unknown"),
    ],
)
def test_attribute_errors_name_the_attribute(code, given, field, reason):
    error = _reject(check_attributes, REF.categories[code], given, open311_field)
    assert error.field.endswith(field) and error.code == reason


# -- places -------------------------------------------------------------------------------------
def test_places_resolve_ids_names_addresses_and_coordinates():
    places = Places(REF.tree)
    assert places.resolve(node_id=HONGQI).node.id == HONGQI
    assert places.resolve(address="红旗小区").node.id == HONGQI
    assert places.resolve(address="乐山市市中区红旗巷18号").node.id == HONGQI
    near = places.resolve(lat=29.5782, lon=103.7494)
    assert near.node.id == HONGQI and near.lat == 29.5782
    assert _reject(places.resolve, address="火星").field == "address_string"
    assert _reject(places.resolve, lat=0.0, lon=0.0).code == "outside"
    assert _reject(places.resolve, lat=95.0, lon=0.0).code == "out_of_range"
    assert _reject(places.resolve, lat=1.0).field == "long"
    assert _reject(places.resolve).code == "required"


# -- query filters ------------------------------------------------------------------------------
def test_default_window_is_the_last_90_days_and_1000_requests():
    query = spec.parse_request_query({}, NOW, CODES)
    assert query.end == NOW and query.start == NOW - timedelta(days=90)
    assert query.page_size == 1000 and query.skip == 0


def test_one_sided_windows_and_ids_override_filters():
    start = spec.parse_request_query({"start_date": "2026-01-01T00:00:00Z"}, NOW, CODES)
    assert start.end - start.start == timedelta(days=90)
    end = spec.parse_request_query({"end_date": "2026-06-01T00:00:00+08:00"}, NOW, CODES)
    assert end.end == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)
    ids = spec.parse_request_query(
        {"service_request_id": "iss_a,iss_b,iss_a", "status": "bogus"}, NOW, CODES
    )
    assert ids.ids == ("iss_a", "iss_b")
    paged = spec.parse_request_query(
        {"service_code": "pests,gas-leak", "status": "open,closed", "page": "3", "page_size": "20"},
        NOW,
        CODES,
    )
    assert paged.service_codes == ("pests", "gas-leak") and paged.skip == 40


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "start_date"),
        ({"end_date": "soon"}, "end_date"),
        ({"status": "open,pending"}, "status"),
        ({"service_code": "pests,nope"}, "service_code"),
        ({"page_size": "0"}, "page_size"),
        ({"page": "-1"}, "page"),
        ({"service_request_id": ",".join(f"iss_{i}" for i in range(101))}, "service_request_id"),
    ],
)
def test_bad_filters_name_the_parameter(params, field):
    assert _reject(spec.parse_request_query, params, NOW, CODES).field == field


# -- formats ------------------------------------------------------------------------------------
def test_request_view_fills_the_spec_fields_from_the_read_model():
    doc = {
        "_id": "iss_abc",
        "category": "gas-leak",
        "node_id": HONGQI,
        "status": "resolved",
        "status_note": "已处理",
        "owner": {"kind": "department", "code": "gas", "name": "燃气公司", "name_en": "Gas"},
        "reported_at": NOW,
        "updated_at": NOW + timedelta(hours=1),
        "resolve_due": NOW + timedelta(days=1),
        "description": "燃气味",
    }
    view = spec.request_view(doc, REF.categories["gas-leak"], REF.tree, "zh-CN")
    assert view["status"] == "closed" and view["status_notes"] == "已处理"
    assert view["agency_responsible"] == "燃气公司"
    assert view["requested_datetime"] == "2026-11-28T08:00:00+00:00"
    assert view["updated_datetime"] == "2026-11-28T09:00:00+00:00"
    assert view["expected_datetime"] == "2026-11-29T08:00:00+00:00"
    assert view["service_notice"].startswith("闻到燃气味")
    assert (view["lat"], view["long"]) == (29.57819, 103.74945)
    assert view["address"] == "乐山市市中区红旗巷18号"
    assert spec.open311_status("reopened") == "open"


def test_xml_is_well_formed_utf8_and_escapes_user_data():
    hostile = "</description><x>&amp; \x00\x1b 水 \U0001f600"
    body = to_xml("service_requests", [{"description": hostile, "flag": True, "none": None}])
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(body)
    request = root.find("request")
    assert request.find("description").text == "</description><x>&amp;  水 \U0001f600"
    assert request.find("flag").text == "true" and request.find("none").text is None
    definition = spec.service_definition(REF.categories["water-pipe-burst"], "en")
    root = ET.fromstring(to_xml("service_definition", definition))
    assert root.find("attributes/attribute/values/value/name").text == "Seeping"


def test_services_have_open311_types_and_definitions_for_attributes():
    entries = [spec.service_entry(c, "zh-CN") for c in REF.categories.values()]
    assert len(entries) >= 40
    assert all(e["metadata"] == bool(REF.categories[e["service_code"]].attributes) for e in entries)


# -- media, keys, idempotency, limits, duplicates -------------------------------------------------
def test_photos_are_judged_by_their_bytes():
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_image(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_image(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image(b"GIF89a") is None
    assert _reject(check_photo, b"<svg/>", 100).code == "unsupported_type"
    assert _reject(check_photo, b"\xff\xd8\xff" + b"0" * 100, 50).code == "too_large"
    assert _reject(check_photo, b"", 50).code == "empty"


def test_api_keys_are_stored_hashed():
    key = new_api_key()
    doc = key_document(key, "app", NOW)
    assert doc["_id"] == hash_api_key(key) and key not in str(doc)
    assert new_api_key() != key


def test_idempotency_ids_are_derived_and_valid_issue_ids():
    from pydantic import TypeAdapter

    first = issue_id_for_key("abc")
    assert first == issue_id_for_key("abc") != issue_id_for_key("abd")
    TypeAdapter(IssueId).validate_python(first)
    assert body_fingerprint({"a": 1, "b": [1]}) == body_fingerprint({"b": [1], "a": 1})


def test_token_buckets_refill_and_name_the_limit():
    now = [0.0]
    limiter = RateLimiter(
        per_client=TokenBuckets(1, 2, clock=lambda: now[0]),
        per_key=TokenBuckets(0, 1, clock=lambda: now[0]),
    )
    limiter.check("1.2.3.4", "key")
    limiter.check("1.2.3.4", "key")
    with pytest.raises(ApiError) as caught:
        limiter.check("1.2.3.4", "key")
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "1"
    limiter.check("5.6.7.8")
    now[0] = 1.0
    limiter.check("1.2.3.4")


def test_duplicates_at_the_compound_or_within_the_radius():
    docs = [
        {"_id": "a", "compound_id": HONGQI, "node_id": f"{HONGQI}.b01"},
        {"_id": "b", "compound_id": "other", "node_id": "x", "lat": 29.5782, "lon": 103.7495},
        {"_id": "c", "compound_id": "other", "node_id": "x", "lat": 29.60, "lon": 103.70},
    ]
    found = pick_duplicates(
        docs, compound_id=HONGQI, point=(29.57819, 103.74945), radius_km=0.15, tree=REF.tree
    )
    assert [d["_id"] for d in found] == ["a", "b"]
