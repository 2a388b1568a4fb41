import pandas as pd
import pytest

from tasks.quality.load import CEEC_MEMBERS, read_csv
from tasks.trade.membership import member_keys, members_in
from tasks.warehouse.catalog import Catalog


@pytest.fixture(scope="module")
def members() -> pd.DataFrame:
    return read_csv(Catalog().ceec_members, CEEC_MEMBERS)


def test_sixteen_members_before_greece(members):
    assert len(members_in(members, 2018)) == 16
    assert "GRC" not in members_in(members, 2018)


def test_greece_counts_from_2019_because_it_joined_in_april(members):
    assert "GRC" in members_in(members, 2019)
    assert len(members_in(members, 2019)) == 17


def test_lithuania_out_in_2021_having_left_in_may(members):
    assert "LTU" in members_in(members, 2020)
    assert "LTU" not in members_in(members, 2021)


def test_majority_rule_counts_days():
    table = pd.DataFrame(
        {
            "iso3": ["AAA", "BBB", "CCC"],
            "joined": pd.to_datetime(["2019-07-01", "2019-07-03", "2010-01-01"]),
            "left": pd.to_datetime([None, None, "2019-07-02"]),
        }
    )
    # 2019 has 365 days: from 1 July a member 184 days (most), from 3 July 182 (not most).
    assert members_in(table, 2019) == ["AAA"]
    assert members_in(table, 2018) == ["CCC"]
    assert member_keys(table, [2019, 2020]) == ["2019:AAA", "2020:AAA", "2020:BBB"]
