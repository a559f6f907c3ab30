"""Open reports by compound (dispatch's public count) and the schematic picture drawn of them:
nothing finer than a compound, every street drawn, counts and names escaped into the SVG."""

from __future__ import annotations

from datetime import UTC, datetime

from services.dispatch.public import open_by_compound
from services.web.public.district_picture import district_pictures, tile_class
from services.web.public.district_stats import recent_months
from shared.reference import load_reference
from shared.settings import Settings

TREE = load_reference(Settings().config_dir).tree
HONGQI = "sz.tongjiang.niuerqiao.hongqi"


def test_cases_count_at_their_compound_never_finer():
    places = [
        ["sz", "sz.tongjiang", "sz.tongjiang.niuerqiao", HONGQI, f"{HONGQI}.b02"],
        [f"{HONGQI}.b01", HONGQI, "sz.tongjiang.niuerqiao", "sz.tongjiang", "sz"],
        ["sz", "sz.tongjiang", "sz.tongjiang.niuerqiao"],  # a community-level case
        ["nowhere"],
    ]
    assert open_by_compound(places, TREE) == {HONGQI: 2, "sz.tongjiang.niuerqiao": 1}


def test_the_picture_has_every_street_and_the_counts():
    pictures = district_pictures(TREE, {HONGQI: 7}, "en")
    assert len(pictures) == 5
    tongjiang = next(svg for name, svg in pictures if name == "Tongjiang Street")
    assert "<title>Hongqi Compound: 7</title>" in tongjiang and 'class="t3"' in tongjiang
    assert tile_class(0) == "t0" and tile_class(2) == "t1" and tile_class(5) == "t2"


def test_recent_months_cross_the_year():
    months = recent_months(datetime(2026, 2, 10, tzinfo=UTC), 4)
    assert months == ["2026-02", "2026-01", "2025-12", "2025-11"]


def test_the_rate_chart_fits_a_phone_and_escapes_its_names():
    from services.web.public.rate_chart import rate_chart

    svg = rate_chart("by street · response", [("<通江街道>", 0.5), ("B", 1.2)])
    assert 'width="340"' in svg and "&lt;通江街道&gt;" in svg and "<通江街道>" not in svg
    assert "50.0%" in svg and 'width="270.0"' in svg  # a rate above 1 is drawn full
