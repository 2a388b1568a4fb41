import pytest

from tasks.quality.load import FX_RATES, INDICATOR_VALUES, LoadError, read_csv


def write(tmp_path, text, name="fx_rates.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_types_and_source_lines(tmp_path):
    frame = read_csv(write(tmp_path, "year,currency,cny_per_unit\n2018,USD,6.617\n2018,EUR,7.8\n"), FX_RATES)
    assert frame["year"].dtype == "int64" and frame["cny_per_unit"].dtype == "float64"
    assert frame["source_line"].tolist() == [2, 3]


@pytest.mark.parametrize(
    ("cell", "found"),
    [('"6,617"', "'6,617'"), ("6.6 CNY", "'6.6 CNY'"), ("inf", "'inf'"), ("NaN", "'NaN'")],
)
def test_a_bad_number_names_file_line_and_column(tmp_path, cell, found):
    path = write(tmp_path, f"year,currency,cny_per_unit\n2018,USD,6.617\n2018,EUR,{cell}\n")
    with pytest.raises(LoadError) as error:
        read_csv(path, FX_RATES, "raw/reference/fx_rates.csv")
    assert (error.value.file, error.value.line, error.value.column) == (
        "raw/reference/fx_rates.csv",
        3,
        "cny_per_unit",
    )
    assert found in str(error.value)


def test_a_missing_column_is_named(tmp_path):
    path = write(tmp_path, "year,city_code,indicator,value\n2018,NGB,x,1\n", "values.csv")
    with pytest.raises(LoadError, match=r"missing columns \['source'\]"):
        read_csv(path, INDICATOR_VALUES)


def test_a_year_must_be_whole(tmp_path):
    with pytest.raises(LoadError, match="line 2, column 'year': expected a whole number"):
        read_csv(write(tmp_path, "year,currency,cny_per_unit\n2018.5,USD,6.6\n"), FX_RATES)


def test_an_empty_line_is_refused_where_it_is(tmp_path):
    path = write(tmp_path, "year,currency,cny_per_unit\n2018,USD,6.6\n\n2018,EUR,7.8\n")
    with pytest.raises(LoadError, match="line 3: empty line"):
        read_csv(path, FX_RATES)
    assert len(read_csv(write(tmp_path, "year,currency,cny_per_unit\n2018,USD,6.6\n"), FX_RATES)) == 1


def test_a_row_with_too_many_cells_names_its_line(tmp_path):
    path = write(tmp_path, "year,currency,cny_per_unit\n2018,USD,6.6\n2018,EUR,7,8\n")
    with pytest.raises(LoadError) as error:
        read_csv(path, FX_RATES)
    assert error.value.line == 3 and "expected 3 cells as in the header, found 4" in str(error.value)
