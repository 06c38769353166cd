"""Every catalogued engine has a declaration and an adapter that agree on who they are."""

from __future__ import annotations

import pytest

from studio.engines.catalog import ENGINES
from studio.engines.registry import create_adapter, spec_for


@pytest.mark.parametrize("engine", ENGINES, ids=lambda engine: engine.id)
def test_spec_and_adapter_belong_to_the_engine(engine) -> None:
    spec = spec_for(engine.id)
    adapter = create_adapter(engine.id)
    assert spec.info == engine
    assert adapter.spec is spec
    assert adapter.engine_id == engine.id
    for op in spec.operations:
        assert op.path.startswith("/"), op.id
        assert op.method in {"GET", "POST"}, op.id
        if op.parent_field:
            assert op.field(op.parent_field).required, op.id
        for group in (*op.at_least_one, *op.mutually_exclusive):
            for name in group:
                op.field(name)  # every grouped field is declared


def test_every_catalogued_engine_is_declared() -> None:
    from studio.engines.registry import SPECS

    assert set(SPECS) == {engine.id for engine in ENGINES}


def test_unknown_engine_is_named() -> None:
    with pytest.raises(KeyError, match="known: ttapi, mountsea, kling, evolink"):
        spec_for("suno")
