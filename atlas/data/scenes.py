"""Scenes of Fashion-MNIST items with questions about them, for visual question answering.

A scene is a 56x56 canvas cut in a 2x2 grid; each cell holds a Fashion-MNIST item or, with
probability `EMPTY_CELL`, nothing. Each scene comes with template questions in words and
one-word answers:

- *exists*: "is there a bag ?" (yes / no, half of them about an item in the scene);
- *count*: "how many shoes are there ?" (0-4; shoes are sandals, sneakers and boots, tops
  are T-shirts, pullovers, coats and shirts);
- *relation*: "what is left of the bag ?" (left of, right of, above, below; asked only
  about an item that is alone of its class in the scene and has a neighbour on that side).

Everything is generated from a seed, nothing is downloaded but Fashion-MNIST itself. The
three splits share no scene and no image: training scenes take their items from the first
55,000 training images, validation scenes from the last 5,000, test scenes from the test
set (`atlas.models.mlp.fashion_mnist_splits`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from atlas.checks import integer

#: One word per Fashion-MNIST class, in label order.
CLASS_WORDS = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
               "bag", "boot")
#: The words a count question can ask about, and the classes each covers.
GROUPS = {"shoes": (5, 7, 9), "tops": (0, 2, 4, 6), "bags": (8,), "trousers": (1,),
          "dresses": (3,)}
#: Relation questions: how each asks, and the cell offset (row, column) it looks at.
DIRECTIONS = {"left of": (0, -1), "right of": (0, 1), "above": (-1, 0), "below": (1, 0)}
QUESTION_KINDS = ("exists", "count", "relation")
ANSWERS = (*CLASS_WORDS, "yes", "no", "0", "1", "2", "3", "4")
#: Every word a question can use; token 0 pads a question on the left.
VOCABULARY = ("<pad>", "is", "there", "a", "how", "many", "are", "what", "of", "the", "?",
              "left", "right", "above", "below", *CLASS_WORDS, *GROUPS)
#: Words per question, padding included.
QUESTION_LENGTH = 8
CANVAS = 56
EMPTY_CELL = 0.2
#: The splits; training and validation split Fashion-MNIST's training file at
#: `atlas.models.mlp.TRAIN_SPLIT` (55,000), as every chapter does.
SPLITS = ("train", "validation", "test")


@dataclass
class VQASet:
    """Questions about scenes: ``images (n, 1, 56, 56)`` float32 (one copy per question),
    ``questions (n, QUESTION_LENGTH)`` tokens, ``answers (n,)`` indices into `ANSWERS`,
    ``kinds (n,)`` indices into `QUESTION_KINDS`, ``scenes (n,)`` the scene of each
    question, ``texts`` the questions in words, ``cells (scenes, 2, 2)`` the class in each
    cell (-1 for empty)."""

    images: np.ndarray
    questions: np.ndarray
    answers: np.ndarray
    kinds: np.ndarray
    scenes: np.ndarray
    texts: list
    cells: np.ndarray

    def __len__(self):
        return len(self.answers)


def encode_question(text):
    """``(QUESTION_LENGTH,)`` int64 tokens of a question (left-padded with 0), or a
    ValueError naming the first word outside `VOCABULARY`."""
    words = text.lower().replace("?", " ?").split()
    if not words:
        raise ValueError("the question is empty")
    if len(words) > QUESTION_LENGTH:
        raise ValueError(f"questions have at most {QUESTION_LENGTH} words, got {len(words)}: "
                         f"{text!r}")
    index = {w: i for i, w in enumerate(VOCABULARY)}
    unknown = [w for w in words if w not in index]
    if unknown:
        raise ValueError(f"the word {unknown[0]!r} is not in the vocabulary of the scenes' "
                         f"questions: {', '.join(VOCABULARY[1:])}")
    tokens = np.zeros(QUESTION_LENGTH, dtype=np.int64)
    tokens[QUESTION_LENGTH - len(words):] = [index[w] for w in words]
    return tokens


def draw_scene(cells, items, images):
    """The 56x56 canvas with ``images[items[r, c]]`` in cell ``(r, c)`` where
    ``cells[r, c] >= 0``."""
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    for r in range(2):
        for c in range(2):
            if cells[r, c] >= 0:
                canvas[28 * r:28 * r + 28, 28 * c:28 * c + 28] = images[items[r, c]]
    return canvas


def questions_about(cells, rng):
    """Every kind of question for one scene's ``cells``: ``{kind: (text, answer)}``, one
    question per kind, drawn with ``rng`` (relation: None when no item qualifies)."""
    present = [int(v) for v in cells.ravel() if v >= 0]
    # exists: half the time an item in the scene, else one that is not
    absent = [c for c in range(10) if c not in present]
    if present and (not absent or rng.random() < 0.5):
        cls, answer = present[rng.integers(len(present))], "yes"
    else:
        cls, answer = absent[rng.integers(len(absent))], "no"
    result = {"exists": (f"is there a {CLASS_WORDS[cls]} ?", answer)}
    group = list(GROUPS)[rng.integers(len(GROUPS))]
    count = sum(v in GROUPS[group] for v in present)
    result["count"] = (f"how many {group} are there ?", str(count))
    options = []
    for r in range(2):
        for c in range(2):
            cls = cells[r, c]
            if cls < 0 or present.count(int(cls)) != 1:
                continue
            for word, (dr, dc) in DIRECTIONS.items():
                rr, cc = r + dr, c + dc
                if 0 <= rr < 2 and 0 <= cc < 2 and cells[rr, cc] >= 0:
                    options.append((f"what is {word} the {CLASS_WORDS[cls]} ?",
                                    CLASS_WORDS[cells[rr, cc]]))
    result["relation"] = options[rng.integers(len(options))] if options else None
    return result


def generate_scenes(split="train", scenes=1000, *, seed=0, images=None):
    """The scenes of `make_vqa` one at a time: ``(cells, canvas, questions)`` for each, with
    ``questions`` as `questions_about` gives them. Scene ``k`` is the same whatever number
    of scenes is asked for."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    scenes = integer(scenes, "scenes", "make_vqa")
    if images is None:
        from atlas.models.mlp import fashion_mnist_splits

        train, validation, test = fashion_mnist_splits()
        pool, labels = {"train": train, "validation": validation, "test": test}[split]
    else:
        pool, labels = images
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    available = np.array([c for c in range(10) if len(by_class[c])])
    if not len(available):
        raise ValueError(f"make_vqa: no images to draw the {split} scenes from")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    for _ in range(scenes):
        cells = available[rng.integers(0, len(available), (2, 2))]
        cells[rng.random((2, 2)) < EMPTY_CELL] = -1
        items = np.zeros((2, 2), dtype=np.int64)
        for r in range(2):
            for c in range(2):
                if cells[r, c] >= 0:
                    choices = by_class[cells[r, c]]
                    items[r, c] = choices[rng.integers(len(choices))]
        yield cells, draw_scene(cells, items, pool), questions_about(cells, rng)


def make_vqa(split="train", scenes=1000, *, seed=0, images=None):
    """``scenes`` scenes of ``split`` ("train", "validation" or "test") with one question of
    each kind (fewer when no relation question fits), as a `VQASet`.

    ``images`` is ``(images, labels)`` to draw items from (default: the split's pool of
    Fashion-MNIST). The same ``split``, ``scenes`` and ``seed`` give the same
    set; each split mixes its own seed in, so splits never coincide.
    """
    canvases, questions, answers, kinds, owners, texts, all_cells = [], [], [], [], [], [], []
    for s, (cells, canvas, asked) in enumerate(generate_scenes(split, scenes, seed=seed,
                                                               images=images)):
        all_cells.append(cells)
        for k, kind in enumerate(QUESTION_KINDS):
            if asked[kind] is None:
                continue
            text, answer = asked[kind]
            canvases.append(canvas)
            questions.append(encode_question(text))
            answers.append(ANSWERS.index(answer))
            kinds.append(k)
            owners.append(s)
            texts.append(text)
    return VQASet(images=np.stack(canvases)[:, None], questions=np.stack(questions),
                  answers=np.array(answers, dtype=np.int64), kinds=np.array(kinds),
                  scenes=np.array(owners), texts=texts, cells=np.array(all_cells))


def scene(split, index, *, seed=0, images=None):
    """``(cells, canvas)`` of scene ``index`` of ``split``, without keeping the others."""
    index = integer(index, "index", "scene", minimum=0)
    last = deque(generate_scenes(split, index + 1, seed=seed, images=images), maxlen=1)
    cells, canvas, _ = last[0]
    return cells, canvas
