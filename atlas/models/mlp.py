"""Multi-layer perceptrons for Fashion-MNIST (and any flat input)."""

from __future__ import annotations

from atlas.nn import Activation, Dense, Dropout, Flatten, Sequential


def mlp(hidden=(256,), input_shape=(28, 28), classes=10, activation="relu", dropout=0.0,
        device="cpu", seed=0):
    """``Flatten -> [Dense -> activation -> Dropout] * len(hidden) -> Dense(classes)``.

    The output is logits: pair it with the softmax cross-entropy loss. Hidden weights use
    Kaiming (He) initialisation, suited to ReLU.
    """
    layers = [Flatten()]
    for units in hidden:
        layers += [Dense(units, weight_init="he_uniform"), Activation(activation)]
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(classes))
    return Sequential(layers, input_shape=input_shape, device=device, seed=seed, name="mlp")


#: Images of Fashion-MNIST's training file used for training; the rest (5,000) are held out
#: for validation, and the test file is used once, at the end.
TRAIN_SPLIT = 55_000


def fashion_mnist_splits():
    """``(x_train, y_train), (x_val, y_val), (x_test, y_test)`` of Fashion-MNIST.

    The last training images are held out for validation (with fewer images than
    `TRAIN_SPLIT`, as in the tests, the last tenth).
    """
    from atlas.data import load_fashion_mnist

    x, y = load_fashion_mnist("train")
    split = min(TRAIN_SPLIT, len(x) * 9 // 10)
    return (x[:split], y[:split]), (x[split:], y[split:]), load_fashion_mnist("test")


def train_fashion_mnist(hidden=(512, 256), dropout=0.2, epochs=20, batch_size=128, lr=1e-3,
                        weight_decay=1e-4, patience=None, seed=0, device="cpu", progress=True,
                        print_fn=print):
    """The MLP recipe of the course: AdamW with a cosine schedule on Fashion-MNIST.

    Returns ``(model, history, test_scores)``; ``history`` is what `Sequential.fit`
    returns, ``test_scores`` the test set's ``{"loss", "accuracy"}``.
    """
    from atlas.optimizers import AdamW, CosineDecay

    (x_train, y_train), validation, (x_test, y_test) = fashion_mnist_splits()
    model = mlp(tuple(hidden), dropout=dropout, device=device, seed=seed)
    model.compile(loss="softmax_cross_entropy",
                  optimizer=AdamW(lr=lr, weight_decay=weight_decay, schedule=CosineDecay(epochs)))
    if print_fn:
        model.summary(print_fn)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=validation, patience=patience, progress=progress)
    return model, history, model.evaluate(x_test, y_test)
