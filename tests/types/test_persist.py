from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dspy
import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ImageInputError, Selection, decompose
from specprompt.types import SpectralImage, load_program, restore_image, restore_images


class Sig(dspy.Signature):
    """Label the main image, helped by the references."""

    image: dspy.Image = dspy.InputField()
    references: list[dspy.Image] = dspy.InputField()
    label: str = dspy.OutputField()


class Pipeline(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = dspy.Predict(Sig)
        self.second = dspy.ChainOfThought(Sig)

    def forward(self, image: dspy.Image, references: list[dspy.Image]) -> dspy.Prediction:
        return self.second(image=image, references=references)


def _images() -> list[SpectralImage]:
    rng = np.random.default_rng(3)
    out = []
    for i, sel in enumerate(
        [
            None,
            Selection.of(["residual"]),
            Selection.of(["L1", "residual"], tiles={"L1": [(0, 0)]}),
            Selection.of(["L0", "L1"]),
        ]
    ):
        src = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
        out.append(SpectralImage.from_spectrum(decompose(src), sel, detail=("low", None, "high", "auto")[i]))
    return out


def _compiled() -> tuple[Pipeline, list[SpectralImage]]:
    imgs = _images()
    plain = dspy.Image(Image.new("RGB", (8, 8), "red"))
    prog = Pipeline()
    prog.first.demos = [
        dspy.Example(image=imgs[0], references=[imgs[1], imgs[2]], label="a").with_inputs("image", "references"),
        dspy.Example(image=imgs[3], references=[], label="b").with_inputs("image", "references"),
    ]
    prog.second.predict.demos = [
        dspy.Example(image=imgs[2], references=[plain, imgs[0]], label="c", reasoning="r").with_inputs(
            "image", "references"
        )
    ]
    return prog, imgs


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_json_round_trip_restores_every_image_exactly(tmp_path: Path) -> None:
    prog, _ = _compiled()
    path = tmp_path / "program.json"
    prog.save(str(path))

    text = path.read_text()
    state = json.loads(text)  # plain JSON: no pickle anywhere
    assert not (tmp_path / "program.pkl").exists()
    blobs = [s for s in _strings(state) if "base64," in s]
    assert blobs and all("data:image/png;base64," in s for s in blobs)

    fresh = load_program(Pipeline(), path)
    for before, after in ((prog.first, fresh.first), (prog.second.predict, fresh.second.predict)):
        assert len(after.demos) == len(before.demos)
        for old, new in zip(before.demos, after.demos, strict=True):
            assert new["image"] == old.image
            assert type(new["image"]) is type(old.image)
            assert new["references"] == old.references
            assert new["label"] == old.label
    restored = fresh.first.demos[0]["image"]
    assert isinstance(restored, SpectralImage)
    assert restored.selection_obj.is_all and restored.detail == "low"
    tiled = fresh.first.demos[0]["references"][1]
    assert tiled.selection_obj == Selection.of(["L1", "residual"], tiles={"L1": [(0, 0)]})
    assert tiled.source_hash == prog.first.demos[0].references[1].source_hash
    assert type(fresh.second.predict.demos[0]["references"][0]) is dspy.Image


def test_restore_images_is_idempotent_and_keeps_examples() -> None:
    prog, imgs = _compiled()
    restore_images(prog)  # already objects: unchanged
    assert prog.first.demos[0].image == imgs[0]
    assert isinstance(prog.first.demos[0], dspy.Example)
    assert prog.first.demos[0].inputs().keys() == ["image", "references"]
    state = prog.first.dump_state()
    prog.first.demos = [dspy.Example(**state["demos"][0])]
    restore_images(restore_images(prog))
    assert prog.first.demos[0].image == imgs[0]


def test_restore_image_leaves_other_values_alone() -> None:
    marker = _images()[1].serialize_model()
    assert restore_image(marker) == _images()[1]
    assert restore_image((marker, 3)) == (_images()[1], 3)
    assert restore_image({"k": [marker]}) == {"k": [_images()[1]]}
    for value in ["text", 3, None, marker.replace("image_url", "file"), marker[:-5]]:
        assert restore_image(value) == value
    two = marker.replace("}}]", "}}, {}]", 1)
    assert restore_image(two) == two
    with pytest.raises(ImageInputError, match="marker whose content is not a JSON list of content parts"):
        restore_image(marker[:40] + "x" + marker[40:])  # a whole marker that does not parse is corrupt


def test_corrupt_image_in_a_saved_file_is_reported(tmp_path: Path) -> None:
    prog, _ = _compiled()
    path = tmp_path / "p.json"
    prog.save(str(path))
    state = json.loads(path.read_text())
    demo = state["first"]["demos"][0]
    demo["image"] = demo["image"].replace("base64,iVBOR", "base64,!!!!!")
    path.write_text(json.dumps(state))
    where = re.escape(f"cannot read image of predictor 'first', demo 0, field 'image' in {path}: ")
    with pytest.raises(ImageInputError, match=where + "invalid base64"):
        load_program(Pipeline(), path)


def test_load_program_refuses_pickle_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pickle is never loaded"):
        load_program(Pipeline(), tmp_path / "p.pkl")
    with pytest.raises(ConfigError, match="no such program file"):
        load_program(Pipeline(), tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"dspy\.Module"):
        restore_images(object())  # type: ignore[type-var]


def test_loaded_program_sends_the_same_image_parts_with_or_without_restore(tmp_path: Path) -> None:
    prog, imgs = _compiled()
    path = tmp_path / "p.json"
    prog.save(str(path))
    plain = Pipeline()
    plain.load(str(path))
    restored = load_program(Pipeline(), path)
    seen: list[list[tuple[str, str | None]]] = []

    class Engine:
        def complete(self, request: dspy.lm15.Request) -> dspy.lm15.Response:
            parts = [p for m in request.messages for p in m.parts if isinstance(p, dspy.lm15.ImagePart)]
            seen.append([(p.data or "", p.detail) for p in parts])
            text = "[[ ## label ## ]]\nx\n\n[[ ## completed ## ]]"
            return dspy.lm15.Response(
                id=None,
                model="t",
                message=dspy.lm15.Message.assistant((dspy.lm15.TextPart(text),)),
                finish_reason="stop",
                usage=dspy.lm15.Usage(input_tokens=1, output_tokens=1),
            )

    with dspy.context(lm=dspy.LM("specprompt/test", engine=Engine(), cache=False), adapter=dspy.ChatAdapter()):
        for program in (prog, plain, restored):
            program.first(image=imgs[1], references=[imgs[2]])
    assert len(seen) == 3 and len(seen[0]) == 2 + 2 + 2  # 4 demo images, 2 query images
    assert seen[0] == seen[1] == seen[2]
    assert [d for _, d in seen[0]] == ["low", None, "high", "auto", None, "high"]
