from __future__ import annotations

import json

import pytest

from specprompt import ConfigError, Selection


def test_selection_is_hashable_and_value_equal() -> None:
    a = Selection.of(["L1", "L0"], tiles={"L0": [(0, 1), (0, 0)]})
    b = Selection.of(["L0", "L1"], tiles={"L0": [(0, 0), (0, 1)]})
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1


def test_selection_json_round_trip_is_exact_and_canonical() -> None:
    sel = Selection.of(["y/z0-1", "cb/z0-1"], tiles={"y/z0-1": [(2, 3)]})
    text = sel.to_json()
    assert json.loads(text) == {"bands": ["cb/z0-1", "y/z0-1"], "tiles": {"y/z0-1": [[2, 3]]}}
    assert Selection.from_json(text) == sel
    assert Selection.from_json(Selection.all().to_json()) == Selection.all()
    assert Selection.from_json(Selection.none().to_json()) == Selection.none()


def test_selection_queries() -> None:
    sel = Selection.of(["a", "b"], tiles={"a": [(0, 0)]})
    assert "a" in sel and "c" not in sel
    assert sel.tiles_of("a") == frozenset({(0, 0)})
    assert sel.tiles_of("b") is None
    assert Selection.all().is_all and "anything" in Selection.all()
    assert not Selection.none().is_all


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Selection.of("L0"), "string"),
        (lambda: Selection.of(["L0"], tiles={"L1": [(0, 0)]}), "not kept"),
        (lambda: Selection.of(["L0"], tiles={"L0": [(0, -1)]}), "non-negative"),
        (lambda: Selection.of(["L0"], tiles={"L0": [(0, 0, 0)]}), "pair"),
        (lambda: Selection.of([1]), "band names"),  # type: ignore[list-item]
        (lambda: Selection.of(None), r"got None \(Selection\.all\(\) keeps every band\)"),  # type: ignore[arg-type]
        (lambda: Selection.of(5), "collection of band names, got 5"),  # type: ignore[arg-type]
        (lambda: Selection.of(["L0"], tiles=[("L0", [(0, 0)])]), "tiles must be a mapping"),  # type: ignore[arg-type]
        (lambda: Selection.from_json("{"), "not a Selection JSON"),
        (lambda: Selection.from_json('{"bands": "L0"}'), "list of names"),
        (lambda: Selection.from_json('{"bands": [], "extra": 1}'), "keys"),
        (lambda: Selection.from_json('{"bands": ["a"], "tiles": [1]}'), "mapping"),
    ],
)
def test_selection_rejects_malformed_input(make, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        make()
