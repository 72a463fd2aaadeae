from __future__ import annotations

import pytest

import specprompt
from specprompt import ConfigError, DuplicateNameError, UnknownNameError
from specprompt._registry import Registry
from specprompt.spectral._laplacian import LaplacianScheme


def test_registry_rejects_duplicates_and_bad_names() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("one", 1)
    with pytest.raises(DuplicateNameError, match="'one' is already registered"):
        reg.register("one", 2)
    reg.register("one", 3, replace=True)
    assert reg.get("ONE") == 3
    with pytest.raises(ConfigError, match="invalid"):
        reg.register("Has Space", 1)
    with pytest.raises(UnknownNameError, match="unknown thing 'two'; known: one"):
        reg.get("two")
    assert "one" in reg and list(reg) == ["one"]


def test_unknown_name_is_a_key_error_with_a_readable_message() -> None:
    with pytest.raises(KeyError) as info:
        specprompt.decompose([[0.0]], "nope")  # type: ignore[arg-type]
    assert "unknown scheme 'nope'" in str(info.value) and "laplacian" in str(info.value)


def test_scheme_registration_rejects_duplicates() -> None:
    with pytest.raises(DuplicateNameError):
        specprompt.register_scheme(LaplacianScheme)


@pytest.mark.parametrize("bad", [5, None, "laplacian", int])
def test_scheme_registration_rejects_what_is_not_a_scheme_class(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"register_scheme expects a Scheme subclass \(the class, not an instance\)"):
        specprompt.register_scheme(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="register_scheme expects a Scheme subclass"):
        specprompt.register_scheme(LaplacianScheme(LaplacianScheme.config_cls()))  # type: ignore[arg-type]


def test_a_scheme_class_without_a_valid_name_is_refused() -> None:
    class Nameless(LaplacianScheme):
        name = "Bad Name"

    with pytest.raises(ConfigError, match="scheme name 'Bad Name' is invalid"):
        specprompt.register_scheme(Nameless)
    assert "Bad Name" not in specprompt.available_schemes()


def test_bad_scheme_options_name_the_option() -> None:
    import numpy as np

    img = np.zeros((8, 8), np.float32)
    with pytest.raises(ConfigError, match="bogus"):
        specprompt.decompose(img, "laplacian", bogus=1)
    with pytest.raises(ConfigError, match="levels"):
        specprompt.decompose(img, "laplacian", levels=-1)
    with pytest.raises(ConfigError, match="min_size"):
        specprompt.decompose(img, "laplacian", min_size=0)


def test_error_tree() -> None:
    for exc in (
        ConfigError,
        DuplicateNameError,
        specprompt.ShapeError,
        specprompt.SelectionError,
        specprompt.ImageInputError,
    ):
        assert issubclass(exc, specprompt.SpecPromptError) and issubclass(exc, ValueError)
    assert issubclass(UnknownNameError, KeyError)
