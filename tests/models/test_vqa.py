"""Visual question answering: the three variants, what they read, and that the combined
model learns what neither half can."""

import numpy as np
import pytest

from atlas.data.scenes import ANSWERS, make_vqa
from atlas.models import vqa


def tiny_pool(n=300):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    images = rng.random((n, 28, 28), dtype=np.float32) * 0.2
    images += labels[:, None, None] / 10.0  # each class has its own brightness
    return images.astype(np.float32), labels


def test_variants_read_what_they_say():
    both, image, question = (vqa.vqa_model(v) for v in vqa.VARIANTS)
    assert [t.shape for t in both.inputs] == [(1, 56, 56), (8,)]
    assert [t.shape for t in image.inputs] == [(1, 56, 56)]
    assert [t.shape for t in question.inputs] == [(8,)]
    assert both.output_shapes == [(len(ANSWERS),)]
    assert "Concatenate" in both.summary(print_fn=None)
    with pytest.raises(ValueError, match="variant must be one of"):
        vqa.vqa_model("audio")


def test_training_reports_accuracy_per_kind_and_answers_questions(tmp_path):
    pool = tiny_pool()
    data = (make_vqa("train", 300, images=pool), make_vqa("validation", 50, images=pool))
    model, history = vqa.train("both", epochs=2, data=data, progress=False)
    assert len(history["loss"]) == 2 and history["loss"][-1] < history["loss"][0]
    scores = vqa.accuracy_by_kind(model, make_vqa("test", 50, images=pool))
    assert set(scores) == {"all", "exists", "count", "relation"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    saved = model.save(tmp_path / "vqa.npz")
    from atlas.nn import load

    again = load(saved)
    top = vqa.answer(again, data[0].images[0], data[0].texts[0])
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert top == vqa.answer(model, data[0].images[0], data[0].texts[0])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vqa.answer(model, data[0].images[0], "where is the umbrella ?")
