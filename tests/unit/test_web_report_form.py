"""The residents' report and preferences forms, pure: the catalogue grouped and searched,
deep-linked places, and each wrong field named with the word the page shows."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from services.web.domain.preferences import preferences_body
from services.web.domain.report_form import check, form_field, grouped, place_of
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit
REF = load_reference(Settings().config_dir)
HONGQI = "sz.tongjiang.niuerqiao.hongqi"


def test_the_catalogue_grouped_and_searched_in_both_languages():
    groups = grouped(REF, "zh-CN")
    assert sum(len(members) for _, members in groups) == len(REF.categories)
    [(name, members)] = grouped(REF, "en", "street light")
    assert name == "Lighting" or members[0].code == "streetlight-out"
    assert "streetlight-out" in {c.code for _, m in grouped(REF, "zh-CN", "路灯") for c in m}
    assert grouped(REF, "zh-CN", "no such thing at all") == []


def test_a_deep_link_names_a_compound_or_building_only():
    assert place_of(REF.tree, HONGQI) == (HONGQI, "")
    assert place_of(REF.tree, f"{HONGQI}.b02") == (HONGQI, f"{HONGQI}.b02")
    assert place_of(REF.tree, "sz.tongjiang") == ("", "")
    assert place_of(REF.tree, "nowhere") == ("", "")


def test_a_good_form_is_intakes_body():
    values = {"category": ["water-pipe-burst"], "compound": [HONGQI],
              "building": [f"{HONGQI}.b02"], "description": ["水管爆了"], "phone": ["13800000001"],
              "attr.severity": ["spraying"], "attr.location-detail": ["3号楼旁"]}  # fmt: skip
    checked = check(REF, values, None)
    assert checked.errors == {}
    assert checked.body["node_id"] == f"{HONGQI}.b02"
    assert checked.body["attributes"] == {"severity": "spraying", "location-detail": "3号楼旁"}
    assert checked.body["contact"]["phone"] == "13800000001"
    # a building of another compound is not taken: the compound is
    values["building"] = ["sz.tongjiang.niuerqiao.other.b01"]
    assert check(REF, values, None).body["node_id"] == HONGQI


def test_a_date_time_from_the_page_is_beijing_time():
    values = {"category": ["water-outage"], "compound": [HONGQI], "description": ["停水"],
              "phone": ["13800000001"], "attr.started-at": ["2026-12-05T07:30"],
              "attr.scope": ["household"]}  # fmt: skip
    checked = check(REF, values, None)
    assert checked.errors == {}
    assert checked.body["attributes"]["started-at"] == "2026-12-05T07:30:00+08:00"
    values["attr.started-at"] = ["yesterday"]
    assert check(REF, values, None).errors == {"attr.started-at": "r.choice"}


def test_each_wrong_field_is_named():
    values = {"category": ["water-pipe-burst"], "description": ["<b>x</b>"], "phone": ["abc"],
              "attr.severity": ["everywhere"], "attr.location-detail": [""]}  # fmt: skip
    errors = check(REF, values, None).errors
    assert errors == {
        "place": "r.place-needed",
        "description": "r.markup",
        "phone": "r.phone.bad",
        "attr.severity": "r.choice",
        "attr.location-detail": "r.required",
    }
    signed_in = check(REF, {**values, "phone": [""]}, "13800000001").errors
    assert "phone" not in signed_in
    assert check(REF, {"category": ["nope"]}, None).errors == {"category": "r.choice"}
    assert form_field("body.attributes.severity") == "attr.severity"
    assert form_field("body.node_id") == "place" and form_field(None) == "form"


def test_preferences_form():
    body, errors = preferences_body(FormData([("channels", "inbox"), ("channels", "sms"),
        ("language", "en"), ("quiet_start", "22:00"), ("quiet_end", "07:00"),
        ("opt_outs", "issue.progressed")]))  # fmt: skip
    assert errors == {}
    assert body == {
        "channels": ["inbox", "sms"],
        "language": "en",
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "opt_outs": ["issue.progressed"],
    }
    _, errors = preferences_body(FormData([("channels", "webhook"), ("language", "fr"),
        ("quiet_start", "25:00"), ("opt_outs", "issue.closed")]))  # fmt: skip
    assert set(errors) == {"channels", "language", "quiet", "opt_outs"}
