import pytest

from tasks.engine.method import MethodError, read_method
from tasks.warehouse.catalog import Catalog


def test_default_method_reads():
    method = read_method(Catalog().method)
    assert method.normalise.method == "minmax" and method.normalise.range == (0, 100)
    assert method.aggregate.method == "arithmetic" and method.version


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: m\nversion: '1'\nnormalise: {methd: minmax}\n",
            r"normalise.methd: not a key the method file has \(a typo\?\)",
        ),
        ("name: m\nversion: '1'\nnormalise: {range: [100, 0]}\n", "low < high"),
        ("name: m\nversion: '1'\naggregate: {min_share: 2}\n", "aggregate.min_share"),
        ("version: '1'\n", "name: missing: this key is required"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: m\nversion: '1'\nnormalise: {method: minmaxx}\n", "normalise.method 'minmaxx' is not"),
        ("name: m\nversion: '1'\naggregate: {by_level: {2: geo}}\n", "aggregate.by_level.2 'geo' is not"),
        ("name: m\nversion: '1'\nuncertainty: {choices: [{name: w, kind: noise}]}\n", "choices.0.kind"),
        (
            "name: m\nversion: '1'\nuncertainty: {choices: [{name: aggregation, kind: alternatives, "
            "alternatives: [arithmetic, geo]}]}\n",
            "aggregation alternative 'geo' is not one of",
        ),
        (
            "name: m\nversion: '1'\nuncertainty: "
            "{choices: [{name: colour, kind: alternatives, alternatives: [a]}]}\n",
            "the name must say which step it replaces",
        ),
    ],
)
def test_bad_method_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "method.yaml"
    path.write_text(text)
    with pytest.raises(MethodError, match=message):
        read_method(path)
