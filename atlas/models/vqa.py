r"""Visual question answering: a CNN reads the scene, an LSTM reads the question, and a dense
read-out over both picks a one-word answer.

::

    image (1, 56, 56) -> conv 5x5x16, pool -> conv 3x3x32, pool -> conv 3x3x32, pool
                      -> dense 128                                        \
                                                                           concatenate -> dense 128 -> answer
    question (8 words) -> embedding 32 -> LSTM 64 (last state)            /

The two baselines are the same halves alone, trained the same way: *image only* (it must
guess the question from nothing) and *question only* (it must guess the scene: for
"is there a bag ?" it can only learn how often the answer is yes). A model that reads both
should beat both; `compare` trains the three and reports accuracy per question kind.
"""

from __future__ import annotations

import numpy as np

from atlas.checks import integer
from atlas.data.scenes import ANSWERS, CANVAS, QUESTION_KINDS, QUESTION_LENGTH, VOCABULARY
from atlas.nn import (
    LSTM,
    Activation,
    Concatenate,
    Conv2D,
    Dense,
    Embedding,
    Flatten,
    Input,
    MaxPool2D,
    Model,
)

#: What each variant reads.
VARIANTS = ("both", "image", "question")


def image_encoder(image):
    """Three convolutions with ReLU and 2x2 max pooling (56 -> 28 -> 14 -> 7), then a dense
    code of 128 units: where things are and what they look like."""
    h = image
    for filters, size in ((16, 5), (32, 3), (32, 3)):
        h = Conv2D(filters, size, padding="same", weight_init="he_uniform")(h)
        h = MaxPool2D(2)(Activation("relu")(h))
    return Activation("relu")(Dense(128, weight_init="he_uniform")(Flatten()(h)))


def question_encoder(question):
    """An embedding of each word and an LSTM over the (left-padded) question: its last state."""
    return LSTM(64)(Embedding(len(VOCABULARY), 32)(question))


def vqa_model(variant="both", *, device="cpu", seed=0):
    """The question-answering model (``variant="both"``), or a baseline that reads only the
    ``"image"`` or only the ``"question"``; logits over `ANSWERS`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    image = Input((1, CANVAS, CANVAS), name="image")
    question = Input((QUESTION_LENGTH,), name="question")
    codes, inputs = [], []
    if variant in ("both", "image"):
        codes.append(image_encoder(image))
        inputs.append(image)
    if variant in ("both", "question"):
        codes.append(question_encoder(question))
        inputs.append(question)
    h = Concatenate()(codes) if len(codes) > 1 else codes[0]
    h = Activation("relu")(Dense(128, weight_init="he_uniform")(h))
    answer = Dense(len(ANSWERS))(h)
    return Model(inputs, answer, device=device, seed=seed, name=f"vqa-{variant}",
                 metadata={"vocabulary": list(VOCABULARY), "answers": list(ANSWERS),
                           "variant": variant})


def inputs_of(model, data):
    """The arrays ``model`` reads from a `VQASet`: image, question, or both."""
    variant = model.metadata.get("variant", "both")
    arrays = {"image": [data.images], "question": [data.questions],
              "both": [data.images, data.questions]}[variant]
    return arrays if len(arrays) > 1 else arrays[0]


def accuracy_by_kind(model, data):
    """Test accuracy overall and per question kind: ``{"all": a, "exists": ..., ...}``."""
    predicted = model.predict(inputs_of(model, data), batch_size=256).argmax(axis=1)
    correct = predicted == data.answers
    scores = {"all": float(correct.mean())}
    for k, kind in enumerate(QUESTION_KINDS):
        mask = data.kinds == k
        scores[kind] = float(correct[mask].mean()) if mask.any() else float("nan")
    return scores


def train(variant="both", *, train_scenes=10_000, epochs=8, batch_size=64, lr=1e-3, seed=0,
          device="cpu", progress=True, data=None):
    """Train one variant with Adam on the training scenes, validating on 1,000 validation
    scenes. Returns ``(model, history)``. ``data`` is ``(train, validation)`` `VQASet`s to
    reuse (default: made with `atlas.data.scenes.make_vqa`)."""
    from atlas.data.scenes import make_vqa
    from atlas.optimizers import Adam

    epochs = integer(epochs, "epochs", "vqa.train")
    if data is None:
        data = (make_vqa("train", train_scenes, seed=seed),
                make_vqa("validation", 1_000, seed=seed))
    training, validation = data
    model = vqa_model(variant, device=device, seed=seed)
    model.compile("softmax_cross_entropy", Adam(lr))
    history = model.fit(inputs_of(model, training), training.answers, epochs=epochs,
                        batch_size=batch_size, progress=progress,
                        validation_data=(inputs_of(model, validation), validation.answers))
    return model, history


def compare(*, train_scenes=10_000, test_scenes=2_000, epochs=8, seed=0, progress=True):
    """The three variants trained alike on the same scenes; ``{variant: (model, history,
    test accuracy by kind)}``."""
    from atlas.data.scenes import make_vqa

    data = (make_vqa("train", train_scenes, seed=seed), make_vqa("validation", 1_000, seed=seed))
    test = make_vqa("test", test_scenes, seed=seed)
    results = {}
    for variant in VARIANTS:
        model, history = train(variant, epochs=epochs, seed=seed, progress=progress, data=data)
        results[variant] = (model, history, accuracy_by_kind(model, test))
    return results


def answer(model, image, question, top=3):
    """``[(answer, probability), ...]``: the ``top`` likeliest answers of a trained model
    to ``question`` (words) about ``image`` ``(1, 56, 56)``."""
    from atlas.data.scenes import encode_question

    top = integer(top, "top", "answer")
    image = np.asarray(image, dtype=np.float32).reshape(1, 1, CANVAS, CANVAS)
    tokens = encode_question(question)[None]
    variant = model.metadata.get("variant")
    if variant is None or "answers" not in model.metadata:
        raise ValueError(f"model {model.name!r} is not a question-answering model trained by "
                         f"atlas train vqa (it has no answers in its metadata)")
    x = {"both": [image, tokens], "image": image, "question": tokens}[variant]
    logits = model.predict(x)[0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)[:top]
    return [(model.metadata["answers"][i], float(p[i])) for i in order]
