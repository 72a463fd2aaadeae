from __future__ import annotations

import base64
import io
import json

import dspy
import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ImageInputError, Selection, SelectionError, decompose
from specprompt.types import METADATA_KEY, SpectralImage, content_hash, read_metadata


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((48, 64, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image(source: np.ndarray) -> SpectralImage:
    spec = decompose(source, "laplacian")
    return SpectralImage.from_spectrum(spec, Selection.of(["L1", "residual"]), detail="low")


def test_content_hash_depends_on_pixels_not_on_storage(source: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(source).save(buf, format="PNG")
    h = content_hash(source)
    assert len(h) == 64 and int(h, 16) >= 0
    assert content_hash(buf.getvalue()) == h
    assert content_hash(source.astype(np.float32) / 255.0) == h
    assert content_hash(source[:, :, :1]) != h
    other = source.copy()
    other[0, 0, 0] ^= 1
    assert content_hash(other) != h


def test_from_spectrum_records_everything(source: np.ndarray, image: SpectralImage) -> None:
    assert image.source_hash == content_hash(source)
    assert image.scheme == "laplacian"
    assert json.loads(image.scheme_options) == decompose(source).config.to_dict()
    assert image.selection_obj == Selection.of(["L1", "residual"])
    assert image.source_size == (64, 48)
    assert image.render_size == (32, 24)  # finest kept band L1 is half size
    assert image.to_pil().size == (32, 24)
    assert image.detail == "low"
    assert image.url.startswith("data:image/png;base64,")


def test_render_is_the_spectrum_minimal_render(source: np.ndarray) -> None:
    spec = decompose(source)
    sel = Selection.of(["residual"])
    img = SpectralImage.from_spectrum(spec, sel)
    assert np.array_equal(np.asarray(img.to_pil()), np.asarray(spec.render(sel, "minimal")))
    assert SpectralImage.from_spectrum(spec).selection_obj.is_all


def test_explicit_source_hash_is_kept(source: np.ndarray) -> None:
    img = SpectralImage.from_spectrum(decompose(source), None, source_hash="abc123")
    assert img.source_hash == "abc123"


def test_format_emits_one_image_part_with_detail_only_when_set(image: SpectralImage) -> None:
    parts = image.format()
    assert parts == [{"type": "image_url", "image_url": {"url": image.url, "detail": "low"}}]
    plain = image.with_detail(None)
    assert plain.format() == [{"type": "image_url", "image_url": {"url": image.url}}]
    assert plain != image and plain.with_detail("low") == image


def test_is_a_hashable_dspy_image(image: SpectralImage) -> None:
    assert isinstance(image, dspy.Image)
    assert hash(image) == hash(SpectralImage.from_data_uri(image.url, detail="low"))
    with pytest.raises(Exception, match="frozen"):
        image.scheme = "dct"  # type: ignore[misc]


def test_metadata_travels_in_the_png(image: SpectralImage) -> None:
    meta = read_metadata(image.url)
    assert meta is not None and meta["selection"] == image.selection
    pil = Image.open(io.BytesIO(base64.b64decode(image.url.split(",", 1)[1])))
    assert METADATA_KEY in pil.info
    assert SpectralImage.from_data_uri(image.url, detail="low") == image


def test_detail_reaches_the_engine_image_part(image: SpectralImage) -> None:
    seen: list[object] = []

    class Engine:
        def complete(self, request: dspy.lm15.Request) -> dspy.lm15.Response:
            seen.extend(p.detail for m in request.messages for p in m.parts if isinstance(p, dspy.lm15.ImagePart))
            text = "[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]"
            return dspy.lm15.Response(
                id=None,
                model="t",
                message=dspy.lm15.Message.assistant((dspy.lm15.TextPart(text),)),
                finish_reason="stop",
                usage=dspy.lm15.Usage(input_tokens=1, output_tokens=1),
            )

    class Sig(dspy.Signature):
        """Answer."""

        image: dspy.Image = dspy.InputField()
        answer: str = dspy.OutputField()

    with dspy.context(lm=dspy.LM("specprompt/test", engine=Engine(), cache=False), adapter=dspy.ChatAdapter()):
        dspy.Predict(Sig)(image=image)
    assert seen == ["low"]


def test_reprs_name_the_kept_bands(image: SpectralImage) -> None:
    assert "L1, residual" in repr(image) and "32x24" in repr(image)
    html = image._repr_html_()
    assert "<img" in html and "L1, residual" in html and image.url[:40] in html


def test_reprs_say_how_the_sent_image_was_resized_and_sharpened(source: np.ndarray) -> None:
    spec = decompose(source, "laplacian")
    plain = SpectralImage.from_spectrum(spec, None, size=(32, 24))
    sharp = SpectralImage.from_spectrum(spec, None, size=(32, 24), sharpen=100)
    assert "resample='lanczos'" in repr(sharp) and repr(sharp).endswith(", sharpen=100)")
    assert "sharpen" not in repr(plain)
    assert "sent 32x24 (lanczos, sharpened 100%) of 64x48" in sharp._repr_html_()
    assert "sent 32x24 (lanczos) of 64x48" in plain._repr_html_()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"selection": '{"bands": ["L0"], "tiles": {}}'}, ConfigError, "disagree"),
        ({"source_hash": "other"}, ConfigError, "disagree"),
        ({"render_size": (1, 1)}, ConfigError, "disagree"),
        ({"detail": "medium"}, ConfigError, "detail must be one of"),
        ({"source_size": (0, 5)}, ConfigError, "pair of ints"),
        ({"scheme_options": "[1]"}, ConfigError, "JSON object"),
        ({"scheme": ""}, ConfigError, "non-empty string"),
        ({"selection": "not json"}, ConfigError, "Selection JSON"),
        ({"extra": 1}, ConfigError, "unknown SpectralImage field"),
        ({"url": "https://example.com/a.png"}, ImageInputError, "base64 PNG data URI"),
        ({"url": "data:image/png;base64,!!!"}, ImageInputError, "invalid base64"),
        ({"url": "data:image/png;base64,aGVsbG8="}, ImageInputError, "not a PNG"),
    ],
)
def test_bad_fields_are_refused(image: SpectralImage, change: dict[str, object], error: type, match: str) -> None:
    fields = {**image._fields(), **change}
    with pytest.raises(error, match=match):
        SpectralImage(**fields)


def test_missing_fields_and_foreign_urls_are_refused(image: SpectralImage) -> None:
    with pytest.raises(ConfigError, match="from_spectrum"):
        SpectralImage(url=image.url)
    plain = dspy.Image(Image.new("RGB", (4, 4))).url
    fields = {**image._fields(), "url": plain}
    with pytest.raises(ConfigError, match="must carry"):
        SpectralImage(**fields)
    with pytest.raises(ConfigError, match="not a SpectralImage"):
        SpectralImage.from_data_uri(plain)
    with pytest.raises(ConfigError, match="both"):
        SpectralImage(image.url, url=image.url)
    assert read_metadata(plain) is None


def test_from_spectrum_validates_its_inputs(source: np.ndarray) -> None:
    spec = decompose(source)
    with pytest.raises(SelectionError, match="unknown band"):
        SpectralImage.from_spectrum(spec, Selection.of(["nope"]))
    with pytest.raises(ConfigError, match="Spectrum"):
        SpectralImage.from_spectrum(source)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="detail"):
        SpectralImage.from_spectrum(spec, detail="ultra")  # type: ignore[arg-type]


def test_corrupt_metadata_chunk_is_reported() -> None:
    from PIL.PngImagePlugin import PngInfo

    def uri(text: str) -> str:
        info = PngInfo()
        info.add_text(METADATA_KEY, text)
        buf = io.BytesIO()
        Image.new("RGB", (2, 2)).save(buf, format="PNG", pnginfo=info)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    with pytest.raises(ImageInputError, match="not JSON"):
        read_metadata(uri("{oops"))
    with pytest.raises(ImageInputError, match="version 1"):
        read_metadata(uri('{"v": 99}'))


def test_a_detail_crop_carries_where_it_was_cut_from(source: np.ndarray) -> None:
    left, top, w, h = 16, 8, 24, 20
    origin = {"box": (left, top, w, h), "source_size": (64, 48), "source_hash": content_hash(source)}
    crop = SpectralImage.from_spectrum(decompose(source[top : top + h, left : left + w]), crop=origin)
    assert crop.crop_of == {"box": [16, 8, 24, 20], "source_size": [64, 48], "source_hash": content_hash(source)}
    assert crop.source_size == (24, 20) and crop.crop_text() == "crop 24x20 at (16, 8) of a 64x48 image"
    assert "crop='crop 24x20 at (16, 8) of a 64x48 image'" in repr(crop) and "crop 24x20" in crop._repr_html_()
    again = SpectralImage.from_data_uri(crop.url)  # the PNG carries it: a saved program keeps it
    assert again.crop_of == crop.crop_of
    assert again == crop and crop.with_detail("low").crop == crop.crop
    whole = SpectralImage.from_spectrum(decompose(source))
    assert whole.crop is None and whole.crop_of is None and whole.crop_text() is None and "crop" not in repr(whole)


@pytest.mark.parametrize(
    ("crop", "match"),
    [
        ({"box": (0, 0, 24, 20), "source_size": (64, 48)}, "must be a mapping of"),
        ({"box": (0, 0, 24), "source_size": (64, 48), "source_hash": "h"}, r"\(left, top, width, height\)"),
        ({"box": (50, 0, 24, 20), "source_size": (64, 48), "source_hash": "h"}, "does not fit its 64x48 source"),
        ({"box": (0, 0, 20, 20), "source_size": (64, 48), "source_hash": "h"}, r"is 20x20, but the crop's source_size"),
        ({"box": (0, 0, 24, 20), "source_size": (0, 48), "source_hash": "h"}, "crop source_size must be a"),
        ({"box": (0, 0, 24, 20), "source_size": (64, 48), "source_hash": ""}, "source_hash must be a non-empty"),
        ("not json", "crop must be JSON"),
    ],
)
def test_bad_crops_are_refused(source: np.ndarray, crop: object, match: str) -> None:
    spec = decompose(source[:20, :24])
    with pytest.raises(ConfigError, match=match):
        SpectralImage.from_spectrum(spec, crop=crop)  # type: ignore[arg-type]
    good = SpectralImage.from_spectrum(spec, crop={"box": (0, 0, 24, 20), "source_size": (64, 48), "source_hash": "h"})
    moved = json.dumps({"box": [1, 0, 24, 20], "source_hash": "h", "source_size": [64, 48]})
    with pytest.raises(ConfigError, match=r"\['crop'\] disagree"):
        SpectralImage(**{**good._fields(), "crop": moved})  # the PNG says otherwise
