"""Which countries count as CEEC members in a data year.

Membership changed mid-year (Greece joined 12 April 2019, Lithuania left 22 May 2021), so a
country counts in a year when it was a member for most of that year: more than half its days.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def member_days(members: pd.DataFrame, year: int) -> pd.Series:
    """Days of `year` each country was a member (joined on or before the day, left after it)."""
    start, end = pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
    joined = members["joined"].clip(lower=start, upper=end)
    left = members["left"].fillna(end).clip(lower=start, upper=end)
    days = (left - joined).dt.days.clip(lower=0)
    return pd.Series(days.to_numpy(), index=members["iso3"].to_numpy(), name=year)


def members_in(members: pd.DataFrame, year: int) -> list[str]:
    """ISO3 codes of the countries that were members for most of `year`, sorted."""
    days_in_year = (pd.Timestamp(year + 1, 1, 1) - pd.Timestamp(year, 1, 1)).days
    days = member_days(members, year)
    return sorted(days.index[days * 2 > days_in_year])


def member_keys(members: pd.DataFrame, years: Iterable[int]) -> list[str]:
    """`"year:ISO3"` keys of every member-year, the value set trade partners are checked against."""
    return [f"{year}:{iso3}" for year in years for iso3 in members_in(members, year)]
