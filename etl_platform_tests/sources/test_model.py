from pathlib import Path

import pytest
import yaml

from etl_platform.sources.model import SPEC_DIR, SpecError, load_spec, load_specs

ORDERS = SPEC_DIR / "orders.yaml"


def write_variant(tmp_path: Path, change: dict, name: str = "orders") -> Path:
    spec = yaml.safe_load(ORDERS.read_text())
    spec.update(change)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_shipped_specs_all_load():
    assert [s.name for s in load_specs()] == ["customers", "orders", "payments", "products"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"format": "xml"}, "format", "csv"),
        ({"primary_key": ["no_such_column"]}, "<root>", "no_such_column"),
        ({"event_time": "status"}, "<root>", "timestamp"),
        ({"dedup": {"latest_by": "nope"}}, "<root>", "nope"),
        ({"schema_policy": "whatever"}, "schema_policy", "evolve"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
        ({"name": "Orders; drop table x"}, "name", "pattern"),
    ],
)
def test_a_wrong_spec_fails_naming_the_file_and_the_field(tmp_path, change, field, words):
    path = write_variant(tmp_path, change)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert str(path) in message
    assert field in message
    assert words in message


def test_a_wrong_column_check_names_the_column_index(tmp_path):
    spec = yaml.safe_load(ORDERS.read_text())
    spec["columns"][4]["checks"] = {"min": 5, "max": 1}
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"columns\.4\.checks.*greater than max"):
        load_spec(path)


def test_a_nullable_primary_key_is_refused(tmp_path):
    spec = yaml.safe_load(ORDERS.read_text())
    spec["columns"][0]["nullable"] = True
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match="must be nullable: false"):
        load_spec(path)


def test_a_spec_named_unlike_its_file_is_refused(tmp_path):
    path = write_variant(tmp_path, {}, name="sales")
    with pytest.raises(SpecError, match="must match the file name"):
        load_spec(path)


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("quantity >= nope", "'nope' is not a declared column"),
        ("quantity >= 1; drop table x", "unexpected text"),
        ("(quantity >= 1", "unbalanced parentheses"),
        ("quantity >= '1'", "unexpected text"),
    ],
)
def test_a_rule_outside_the_rule_language_fails_naming_the_rule(tmp_path, expression, words):
    path = write_variant(tmp_path, {"rules": [{"name": "r1", "expression": expression}]})
    with pytest.raises(SpecError, match=f"rule 'r1': {words}"):
        load_spec(path)
