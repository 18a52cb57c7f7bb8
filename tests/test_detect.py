"""Detection: scenes, windows, the fully convolutional conversion, NMS and matching."""

import numpy as np
import pytest

from atlas import cli, detect
from atlas.data.clutter import CANVAS, iou, make_scenes
from tests.data.test_idx import make_dataset


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    make_dataset(tmp_path, n=200)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    return tmp_path


def test_scenes_are_seeded_and_their_items_do_not_overlap(tiny_data):
    a, b = make_scenes("test", 5, seed=3), make_scenes("test", 5, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.boxes == b.boxes and a.images.shape == (5, 1, CANVAS, CANVAS)
    assert not np.array_equal(a.images, make_scenes("train", 5, seed=3).images)
    for boxes in a.boxes:
        assert 1 <= len(boxes) <= 3
        for k, (label, top, left, size) in enumerate(boxes):
            assert 0 <= label < 10 and size in (28, 40, 56)
            assert 0 <= top <= CANVAS - size and 0 <= left <= CANVAS - size
            assert all(iou((top, left, size), other[1:]) == 0 for other in boxes[k + 1:])
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        make_scenes("validation", 2)


def test_windows_are_the_crops_at_stride_four(rng):
    image = rng.random((37, 45))
    crops, (rows, cols) = detect.windows(image)
    assert (rows, cols) == (3, 5) and crops.shape == (15, 1, 28, 28)
    np.testing.assert_array_equal(crops[1 * cols + 4, 0], image[4:32, 16:44])


@pytest.mark.parametrize("side", [28, 56, 78, 112])
def test_the_fully_convolutional_network_gives_every_windows_scores(side, rng):
    model = detect.classifier(dtype="float64", seed=1)
    for layer in model.layers:  # biases off zero, so no ReLU input sits exactly on its kink
        if "b" in layer.params:
            layer.params["b"][...] = rng.normal(0, 0.1, layer.params["b"].shape)
    image = rng.random((side, side))
    crops, grid = detect.windows(image)
    sliding = model.predict(crops).reshape(*grid, detect.CLASSES)
    fcn = detect.fully_convolutional(model, side, side).predict(image[None, None])[0]
    np.testing.assert_allclose(np.moveaxis(fcn, 0, -1), sliding, rtol=1e-10, atol=1e-12)


def test_non_maximum_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = [(1, 0.9, 10, 10, 28), (2, 0.95, 12, 12, 28), (3, 0.8, 60, 60, 28),
             (4, 0.7, 62, 60, 28)]
    assert detect.non_maximum_suppression(boxes) == [(2, 0.95, 12, 12, 28), (3, 0.8, 60, 60, 28)]
    assert len(detect.non_maximum_suppression(boxes, overlap=0.99, contained=1.0)) == 4
    nested = [(1, 0.9, 0, 0, 56), (1, 0.8, 10, 10, 28), (1, 0.7, 40, 40, 28)]
    assert detect.non_maximum_suppression(nested) == nested[::2]  # the one inside is dropped


def test_matching_counts_class_and_location_once_per_true_box():
    truth = [(3, 10, 10, 28), (5, 60, 60, 40)]
    detections = [(3, 0.9, 12, 10, 28),   # right class, right place
                  (3, 0.8, 10, 12, 28),   # the same box again: not a second hit
                  (1, 0.7, 60, 62, 40),   # right place, wrong class
                  (5, 0.6, 0, 70, 28)]    # nowhere
    assert detect.match(detections, truth) == (1, 2)


def test_training_windows_label_items_and_background(tiny_data):
    scenes = make_scenes("train", 6)
    x, y = detect.training_windows(scenes, negatives=2)
    assert x.shape[1:] == (1, 28, 28) and len(x) == len(y)
    items = np.count_nonzero(y != detect.BACKGROUND)
    assert items > 0 and np.count_nonzero(y == detect.BACKGROUND) <= 2 * items + 2 * 6
    labels = {b[0] for boxes in scenes.boxes for b in boxes}
    assert set(y[y != detect.BACKGROUND]) <= labels


def test_atlas_train_detector_then_detect(tiny_data, capsys):
    saved = tiny_data / "detector.npz"
    assert cli.main(["train", "detector", "--scenes", "8", "--epochs", "1", "--no-progress",
                     "--save", str(saved)]) == 0
    assert "| threshold | precision | recall |" in capsys.readouterr().out
    for method in ("fcn", "sliding"):
        assert cli.main(["detect", str(saved), "--scene-index", "1", "--method", method,
                         "--threshold", "0.2", "--out", str(tiny_data / f"{method}.png")]) == 0
    outputs = capsys.readouterr().out.split("test scene 1")[1:]
    assert len(outputs) == 2
    boxes = [o.split(" ms)")[1].split("drew")[0] for o in outputs]
    assert boxes[0] == boxes[1]  # the same boxes by both methods
    assert (tiny_data / "fcn.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["detect", str(saved), "--scene-index", "1000"]) == 2
