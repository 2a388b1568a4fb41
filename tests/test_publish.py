import pandas as pd
import pytest

from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import KEEP_VERSIONS, publish, published_version
from tests.conftest import tree_digest


def frames(value: float) -> dict[str, pd.DataFrame]:
    return {"scores": pd.DataFrame({"city_code": ["A", "B"], "score": [value, 1.0]})}


def test_publish_switches_the_edition_and_keeps_one_previous_version(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    for i in range(3):
        publish(catalog, 2018, f"run{i}", frames(float(i)), {"run_id": f"run{i}"})
        assert pd.read_parquet(catalog.dataset(2018, "scores"))["score"][0] == i
    assert published_version(catalog, 2018).name == "run2"
    assert len(list((catalog.versions / "2018").iterdir())) == KEEP_VERSIONS


def test_a_failed_write_leaves_the_published_edition_untouched(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    publish(catalog, 2018, "good", frames(5.0), {})
    publish(catalog, 2019, "other", frames(6.0), {})
    before = tree_digest(tmp_path)
    broken = frames(7.0) | {"validation": pd.DataFrame({"x": [object()]})}  # not writable as Parquet
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        publish(catalog, 2018, "bad", broken, {})
    assert tree_digest(tmp_path) == before
    assert pd.read_parquet(catalog.dataset(2018, "scores"))["score"][0] == 5.0


def test_data_files_are_byte_identical_for_identical_frames(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    publish(catalog, 2018, "one", frames(1.0), {"run_id": "one"})
    first = catalog.dataset(2018, "scores").read_bytes()
    publish(catalog, 2018, "two", frames(1.0), {"run_id": "two"})
    assert catalog.dataset(2018, "scores").read_bytes() == first
