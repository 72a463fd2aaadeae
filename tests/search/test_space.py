"""Per-scheme search spaces, token accounting of selections, uniform resizing, detail crops."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError, DuplicateNameError, Selection, UnknownNameError, decompose
from specprompt.cost import image_tokens
from specprompt.search import Dim, ImageSpace, available_search_spaces, register_search_space, search_space_for
from specprompt.search._budget import Pricer, fits, uniform_sizes
from specprompt.search._crops import detail_box


def _img(seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size, 3), dtype=np.float32)


def test_registered_spaces() -> None:
    assert {"laplacian", "wavelet", "dct", "fft"} <= set(available_search_spaces())


def test_laplacian_keep_from() -> None:
    spec = decompose(_img(), "laplacian")
    space = search_space_for(spec)
    assert space.dims == (Dim("keep_from", 0, 3),)
    assert space.selection({"keep_from": 0}).bands == {"L0", "L1", "residual"}
    assert space.selection({"keep_from": 2}).bands == {"residual"}
    assert space.selection({"keep_from": 3}) == Selection.none()
    assert space.full() == {"keep_from": 0}
    assert space.ladder() == [{"keep_from": k} for k in range(4)]
    assert space.describe({"keep_from": 1}) == {"keep_from": 1}
    assert space.describe({"keep_from": 3}) == {"keep_from": "drop"}
    # the finest kept level sets the render size
    assert spec.render_shape(space.selection({"keep_from": 1})) == (32, 32)


def test_dct_per_component_prefix() -> None:
    spec = decompose(_img(), "dct")
    space = search_space_for(spec)
    assert [d.name for d in space.dims] == ["y", "cb", "cr"]
    assert all(d.low == 0 and d.high == 9 for d in space.dims)
    sel = space.selection({"y": 2, "cb": 1, "cr": 0})
    assert sel.bands == {"y/z0-1", "y/z1-3", "cb/z0-1"}
    assert space.selection({"y": 0, "cb": 0, "cr": 0}) == Selection.none()
    assert space.selection(space.full()).bands == set(spec.band_names)


def test_fft_rings_keep_every_orientation() -> None:
    spec = decompose(_img(), "fft", orientations=2)
    space = search_space_for(spec)
    assert space.dims == (Dim("rings", 0, 5),)
    assert space.selection({"rings": 2}).bands == {"r0", "r1/o0", "r1/o1"}
    assert space.describe({"rings": 0}) == {"rings": "drop"}


@pytest.mark.parametrize("scheme", ["laplacian", "wavelet", "dct", "fft"])
@pytest.mark.parametrize("model", ["local", "openai:gpt-4o", "anthropic"])
def test_ladder_never_costs_more_and_ends_at_zero(scheme: str, model: str) -> None:
    spec = decompose(_img(1, 96), scheme)
    space = search_space_for(spec)
    pricer = Pricer(model, None)
    costs = [pricer.selection("h", spec, space.selection(v)) for v in space.ladder()]
    assert costs == sorted(costs, reverse=True)
    assert costs[-1] == 0 and costs[0] == pricer.selection("h", spec, Selection.all())


def test_out_of_range_values_and_registry_errors() -> None:
    space = search_space_for(decompose(_img(), "laplacian"))
    with pytest.raises(ConfigError, match=r"keep_from=4 outside 0..3"):
        space.selection({"keep_from": 4})
    with pytest.raises(ConfigError, match=r"keep_from=None outside"):
        space.selection({})
    with pytest.raises(DuplicateNameError, match="search space 'dct' is already registered"):
        register_search_space("dct", lambda spec: space)
    with pytest.raises(UnknownNameError, match=r"unknown search space 'nope'; known: .*laplacian"):
        from specprompt.search._space import _SPACES

        _SPACES.get("nope")


def test_custom_space_registration() -> None:
    def coarse_only(spec: object) -> ImageSpace:
        return ImageSpace((Dim("on", 0, 1),), {"on": (("residual",),)})

    register_search_space("laplacian", coarse_only, replace=True)
    try:
        space = search_space_for(decompose(_img(), "laplacian"))
        assert space.selection({"on": 1}).bands == {"residual"}
    finally:
        from specprompt.search._space import pyramid_space

        register_search_space("laplacian", pyramid_space, replace=True)


def test_pricer_and_fits() -> None:
    spec = decompose(_img(), "laplacian")
    local = Pricer("local", None)
    assert local.selection("h", spec, Selection.all()) == image_tokens("local", 64, 64) == 44
    assert local.selection("h", spec, Selection.of(["residual"])) == 12  # residual 0 .. 1/4: L2, L3, residual
    assert local.image(64, 64) == 44 and local.image(32, 32) == 28
    high = Pricer("openai:gpt-4o", None)
    assert high.selection("h", spec, Selection.all()) == 255
    assert high.selection("h", spec, Selection.all(), detail="low") == 85
    assert Pricer("openai:gpt-4o", "low").image(64, 64) == 85
    assert fits(10, None) and fits(10, 10) and not fits(11, 10)
    with pytest.raises(UnknownNameError):
        Pricer("no-such-model", None)


def test_uniform_sizes() -> None:
    pricer = Pricer("anthropic", None)  # ceil(w * h / 750)
    scale, sizes, tokens = uniform_sizes([(64, 64), (64, 32)], pricer, 4)  # type: ignore[misc]
    assert tokens <= 4 and sizes[0][0] == round(64 * scale)
    bigger = uniform_sizes([(64, 64), (64, 32)], pricer, 100)
    assert bigger is not None and bigger[0] == 1.0
    assert uniform_sizes([(64, 64)], Pricer("openai:gpt-4o", None), 10) is None  # 255 tokens minimum


def test_detail_box_finds_the_textured_corner() -> None:
    img = np.full((64, 64, 3), 0.5, np.float32)
    img[36:60, 40:62] = np.random.default_rng(0).random((24, 22, 3))
    for scheme in ("laplacian", "dct", "fft"):
        top, left, h, w = detail_box(decompose(img, scheme), 0.5)
        assert (h, w) == (32, 32)
        assert top >= 26 and left >= 28, scheme
    tiny = decompose(np.zeros((4, 4, 3), np.float32), "laplacian", levels=0)
    assert detail_box(tiny, 0.5) == (1, 1, 2, 2)  # no fine band: centred window


def test_search_space_for_needs_a_spectrum() -> None:
    with pytest.raises(ConfigError, match=r"search_space_for needs a Spectrum .*got str 'nope'; schemes .*laplacian"):
        search_space_for("nope")  # type: ignore[arg-type]
