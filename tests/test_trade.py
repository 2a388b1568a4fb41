import numpy as np
import pandas as pd
import pytest

from tasks.trade.figures import city_trade, city_year_totals, trade_indicators
from tasks.trade.fx import fx_keys, to_cny


def records(rows):
    frame = pd.DataFrame(rows, columns=["year", "reporter_city", "partner", "flow", "value", "currency"])
    frame["source_file"] = "raw/trade/x.csv"
    frame["source_line"] = np.arange(2, len(frame) + 2)
    return frame


FX = pd.DataFrame({"year": [2017, 2018], "currency": ["USD", "USD"], "cny_per_unit": [6.5, 7.0]})
NATIONAL = pd.DataFrame({"year": [2017, 2017, 2018, 2018], "flow": ["export", "import"] * 2,
                         "value_cny": [800.0, 200.0, 900.0, 300.0]})  # fmt: skip


def test_to_cny_uses_the_rate_of_the_record_year_and_cny_as_is():
    out = to_cny(records([(2017, "A", "POL", "export", 10, "USD"), (2018, "A", "POL", "export", 10, "USD"),
                          (2018, "A", "POL", "import", 5, "CNY")]), FX)  # fmt: skip
    assert out["value_cny"].tolist() == [65.0, 70.0, 5.0]


def test_to_cny_names_the_row_without_a_rate():
    with pytest.raises(
        ValueError, match=r"raw/trade/x.csv, line 2, column 'currency': no FX rate for EUR in 2018"
    ):
        to_cny(records([(2018, "A", "POL", "export", 10, "EUR")]), FX)


def test_fx_keys_include_cny_for_every_year():
    assert fx_keys(FX) == ["2017:CNY", "2017:USD", "2018:CNY", "2018:USD"]


def test_city_trade_volume_growth_share_imports_and_partners():
    raw = records([
        (2016, "A", "POL", "import", 10.0, "CNY"),
        (2017, "A", "POL", "export", 80.0, "CNY"), (2017, "A", "CZE", "import", 20.0, "CNY"),
        (2018, "A", "POL", "export", 90.0, "CNY"), (2018, "A", "CZE", "import", 30.0, "CNY"),
        (2018, "A", "HUN", "export", 0.0, "CNY"),
        (2018, "B", "POL", "export", 12.0, "CNY"),
    ])  # fmt: skip
    raw["value_cny"] = raw["value"]
    totals = city_year_totals(raw)
    facts = city_trade(totals, NATIONAL, ["A", "B", "C"], edition=2018, import_base_lag=2).set_index(
        "city_code"
    )
    a = facts.loc["A"]
    assert a["trade_cny"] == 120.0 and a["exports_cny"] == 90.0 and a["imports_cny"] == 30.0
    assert a["trade_growth_pct"] == pytest.approx(20.0)
    assert a["trade_share_pct"] == pytest.approx(10.0)  # 120 of 1200
    assert a["prev_share_pct"] == pytest.approx(10.0)  # 100 of 1000
    assert a["import_growth_ratio"] == pytest.approx(3.0)  # 30 against 10 in 2016
    assert a["partner_countries"] == 2  # a zero-value row is not trade
    b = facts.loc["B"]
    assert np.isnan(b["trade_growth_pct"]) and np.isnan(b["import_growth_ratio"])  # nothing to grow from
    c = facts.loc["C"]
    assert c["trade_cny"] == 0.0 and c["trade_share_pct"] == 0.0 and c["partner_countries"] == 0


def test_growth_is_missing_when_the_year_before_is_not_on_file():
    raw = records([(2018, "A", "POL", "export", 90.0, "CNY")])
    raw["value_cny"] = raw["value"]
    facts = city_trade(city_year_totals(raw), NATIONAL, ["A"], edition=2018, import_base_lag=2)
    assert facts["trade_growth_pct"].isna().all() and facts["import_growth_ratio"].isna().all()


def test_trade_indicators_reject_codes_trade_cannot_derive():
    facts = pd.DataFrame({"edition": [2018], "city_code": ["A"], "trade_bn_cny": [1.0]})
    assert trade_indicators(facts, ["trade_volume"])["value"].tolist() == [1.0]
    with pytest.raises(ValueError, match="derives only"):
        trade_indicators(facts, ["port_calls"])
