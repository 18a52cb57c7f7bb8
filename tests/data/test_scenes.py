"""Scenes and questions for visual question answering: answers that follow from the scene,
reproducible sets, splits that share nothing."""

import numpy as np
import pytest

from atlas.data import scenes
from atlas.data.scenes import ANSWERS, CLASS_WORDS, GROUPS, encode_question, make_vqa


def fake_pool(n=200, seed=0):
    """Images whose every pixel is the class index (so a cell's content is readable)."""
    labels = np.random.default_rng(seed).integers(0, 10, n)
    return np.repeat(labels[:, None, None], 28, 1).repeat(28, 2).astype(np.float32), labels


def test_answers_follow_from_the_scene():
    data = make_vqa("train", 60, seed=3, images=fake_pool())
    assert len(data) >= 2 * 60 and data.questions.shape[1] == scenes.QUESTION_LENGTH
    for i, text in enumerate(data.texts):
        cells = data.cells[data.scenes[i]]
        image = data.images[i, 0]
        for r in range(2):  # the drawn canvas shows the cells' classes (or nothing)
            for c in range(2):
                patch = image[28 * r:28 * r + 28, 28 * c:28 * c + 28]
                assert np.all(patch == max(cells[r, c], 0))
        answer = ANSWERS[data.answers[i]]
        words = text.split()
        present = [int(v) for v in cells.ravel() if v >= 0]
        if text.startswith("is there"):
            assert answer == ("yes" if CLASS_WORDS.index(words[3]) in present else "no")
        elif text.startswith("how many"):
            assert answer == str(sum(v in GROUPS[words[2]] for v in present))
        else:
            item = CLASS_WORDS.index(words[-2])
            assert present.count(item) == 1
            (r, c), = np.argwhere(cells == item)
            dr, dc = scenes.DIRECTIONS[" ".join(words[2:-3])]
            assert answer == CLASS_WORDS[cells[r + dr, c + dc]]


def test_sets_are_reproducible_and_splits_differ():
    pool = fake_pool()
    a, b = make_vqa("train", 20, images=pool), make_vqa("train", 20, images=pool)
    assert a.texts == b.texts and np.array_equal(a.images, b.images)
    other = make_vqa("test", 20, images=pool)
    assert not np.array_equal(a.cells, other.cells)
    prefix = make_vqa("train", 5, images=pool)  # scene k does not depend on how many follow
    assert np.array_equal(prefix.cells, a.cells[:5])
    cells, canvas = scenes.scene("train", 7, images=pool)
    assert np.array_equal(cells, a.cells[7])
    assert np.array_equal(canvas, a.images[a.scenes == 7][0, 0])


def test_questions_encode_to_tokens_or_say_which_word_is_unknown():
    tokens = encode_question("what is left of the bag?")
    assert tokens.shape == (8,) and tokens[0] == 0 and tokens[-1] == scenes.VOCABULARY.index("?")
    with pytest.raises(ValueError, match="the word 'umbrella' is not in the vocabulary"):
        encode_question("is there a umbrella ?")
    with pytest.raises(ValueError, match="at most 8 words"):
        encode_question("is there a bag or a coat or a dress ?")
    with pytest.raises(ValueError, match="split must be one of"):
        make_vqa("holdout", 3, images=fake_pool())
