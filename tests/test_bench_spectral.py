"""benchmarks/bench_spectral.py: how calls are scheduled and ratios computed (never checks timings)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_spectral.py"


def _bench() -> ModuleType:
    return load_script(SCRIPT)


def test_methods_run_in_pairs_with_their_anchor_alternating_who_goes_first() -> None:
    bench = _bench()
    log: list[str] = []

    def method(name: str, anchor: str | None = None) -> object:
        return bench.Method(name, lambda: log.append(name), anchor)

    methods = bench.grouped(
        [method("A"), method("lone"), method("B"), method("x", "A"), method("y", "B"), method("z", "A")]
    )
    assert [m.name for m in methods] == ["A", "x", "z", "lone", "B", "y"]
    bench.time_methods(methods, repeats=2, budget_s=10.0)
    warm_up = ["A", "x", "z", "lone", "B", "y"]
    round0 = ["A", "x", "A", "z", "lone", "B", "y"]
    round1 = ["x", "A", "z", "A", "lone", "y", "B"]
    assert log == warm_up + round0 + round1
    by_name = {m.name: m for m in methods}
    assert len(by_name["A"].times) == 4 and len(by_name["x"].pairs) == 2 and not by_name["lone"].pairs
    assert len(by_name["lone"].times) == 2


def test_paired_ratio_is_the_median_of_the_pairs() -> None:
    bench = _bench()
    m = bench.Method("m", lambda: None, "a", pairs=[(2.0, 1.0), (3.0, 1.0), (10.0, 1.0)], times=[2.0, 3.0, 10.0])
    a = bench.Method("a", lambda: None, times=[1.0, 1.0, 1.0])
    assert bench.paired_ratio(m, a) == 3.0
    cold = bench.Method("c", lambda: None, "a", times=[5.0], cold=True)
    assert bench.paired_ratio(cold, a) == 5.0  # no pairs: ratio of medians


def test_the_opencv_anchor_is_an_exact_round_trip() -> None:
    bench = _bench()
    img = bench.make_image(64)
    np_out = bench.opencv_laplacian(img, 3)
    assert np_out.shape == img.shape and float(abs(np_out - img).max()) < 1e-6


def test_more_pairs_continue_the_alternation_for_the_named_methods_only() -> None:
    bench = _bench()
    log: list[str] = []
    methods = [bench.Method(n, lambda n=n: log.append(n), a) for n, a in [("A", None), ("x", "A"), ("y", "A")]]
    bench.time_methods(methods, repeats=1, budget_s=10.0)
    log.clear()
    bench.more_pairs(methods, {"x"}, 3, budget_s=10.0)
    assert log == ["x", "A", "A", "x", "x", "A"]  # round 0 had A first
    assert len(methods[1].pairs) == 4 and len(methods[2].pairs) == 1
