"""The schema is declared once (``features()``); the stored derived forms must equal what it gives."""

from __future__ import annotations

import json
import subprocess
import sys


def test_stored_derived_forms_equal_the_declaration():
    from tvgbench.core.schema import DERIVED_PATH, derive_forms

    stored = json.loads(DERIVED_PATH.read_text())
    fresh = derive_forms()
    # compared as JSON text: key order is the column order and must match too
    assert json.dumps(stored) == json.dumps(fresh), "features() changed: run `python -m tvgbench.core.schema` to regenerate"


def test_arrow_schema_and_forms_are_those_of_features():
    from tvgbench.core.schema import arrow_schema, features, features_dict, features_yaml

    assert arrow_schema().equals(features().arrow_schema, check_metadata=True)
    assert json.dumps(features_dict()) == json.dumps(features().to_dict())
    assert json.dumps(features_yaml()) == json.dumps(features()._to_yaml_list())


def test_writing_a_split_does_not_import_datasets(tmp_path):
    code = f"""
import sys
from tvgbench.core.schema import Sample
from tvgbench.core.splits import write_split, load_split
s = Sample(video="v.mp4", query="a person opens a door", span=(1.0, 2.0), duration=10.0, source="t")
write_split([s], {str(tmp_path / 'out')!r}, "test")
assert len(load_split({str(tmp_path / 'out')!r})) == 1
print("datasets" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
