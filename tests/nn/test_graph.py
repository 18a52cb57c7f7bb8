"""The functional API: graphs of layers with fan-out, shared layers, merges, several inputs
and outputs; their gradients, their errors, saving them, and the CUDA backend."""

import numpy as np
import pytest

import atlas
from atlas.gradcheck import numerical_gradient, relative_error
from atlas.nn import (
    Activation,
    Add,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Model,
    Multiply,
    Sequential,
)
from atlas.optimizers import SGD, Adam


def check_model_gradients(model, x, target, loss="mse"):
    """Every parameter's and every input's gradient against central differences, in
    float64, through ``model.backward``."""
    model.compile(loss, SGD(0.1))
    model.require_input_grad()

    def value():
        return model.compute_loss(model.forward(x, training=True), target)[0]

    _, grad = model.compute_loss(model.forward(x, training=True), target)
    dx = model.backward(grad)
    for layer in model.layers:
        for name, param in layer.params.items():
            analytic = layer.grads[name].copy()
            error = relative_error(analytic, numerical_gradient(value, param))
            assert error < 1e-6, f"{layer.name}.{name}: {error:.1e}"
    xs = x if isinstance(x, list) else [x]
    dxs = dx if isinstance(dx, list) else [dx]
    for k, (a, d) in enumerate(zip(xs, dxs)):
        error = relative_error(d, numerical_gradient(value, a))
        assert error < 1e-6, f"input {k}: {error:.1e}"


def test_fan_out_and_every_merge_layer_have_exact_gradients(rng):
    x = Input((5,))
    a = Dense(4, bias_init="normal")(x)
    b = Activation("tanh")(Dense(4)(x))            # x feeds two layers
    s = Add()([a, b, Dense(4)(x)])                  # three-way sum
    p = Multiply()([s, b])                          # b feeds two layers
    c = Concatenate()([p, a])                       # a feeds three
    model = Model(x, Dense(3)(c), dtype="float64")
    check_model_gradients(model, rng.standard_normal((6, 5)), rng.random((6, 3)))


def test_a_shared_layer_sums_its_gradients_over_its_uses(rng):
    x1, x2 = Input((3,)), Input((3,))
    shared = Dense(4, bias_init="normal")
    joined = Concatenate()([Activation("tanh")(shared(x1)), Activation("sigmoid")(shared(x2))])
    model = Model([x1, x2], Dense(2)(joined), dtype="float64")
    assert len(model.layers) == 5 and sum(n.layer is shared for n in model.nodes) == 2
    check_model_gradients(model, [rng.standard_normal((4, 3)), rng.standard_normal((4, 3))],
                          rng.random((4, 2)))
    text = model.summary(print_fn=None)
    assert "(shared)" in text and "input, " not in text.split("concatenate")[0][-5:]
    # The shared weights are counted once.
    assert model.count_params() == 3 * 4 + 4 + 8 * 2 + 2


def test_a_shared_layer_with_caches_per_use_conv_and_batchnorm(rng):
    image = Input((3, 5, 5))
    conv = Conv2D(3, 3, padding=1, bias_init="normal")
    first = conv(image)
    second = conv(Activation("tanh")(first))        # the same convolution, applied twice
    out = Dense(2)(Flatten()(BatchNorm()(Add()([first, second]))))
    model = Model(image, out, dtype="float64")
    check_model_gradients(model, rng.standard_normal((3, 3, 5, 5)), rng.random((3, 2)))


def test_two_inputs_two_outputs_and_channel_concatenation(rng):
    left, right = Input((1, 4, 4)), Input((2, 4, 4))
    merged = Concatenate(axis=1)([Conv2D(2, 3, padding=1)(left), right])
    features = Flatten()(merged)
    scores = Dense(3)(features)
    extra = Dense(1)(Activation("relu")(Dense(5)(features)))
    model = Model([left, right], [scores, extra], dtype="float64")
    assert model.output_shapes == [(3,), (1,)]
    x = [rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((2, 2, 4, 4))]
    check_model_gradients(model, x, [rng.random((2, 3)), rng.random((2, 1))], loss="mse")


def test_a_chain_model_is_the_sequential_model():
    layers = lambda: [Dense(6), Activation("relu"), Dense(3)]  # noqa: E731
    stack = Sequential(layers(), (4,), seed=3)
    x = Input((4,))
    h = x
    for layer in layers():
        h = layer(h)
    graph = Model(x, h, seed=3)
    data = atlas.data.xor(64, seed=0)
    features = np.hstack([data[0], data[0] ** 2]).astype(np.float32)
    for model in (stack, graph):
        model.compile("softmax_cross_entropy", Adam(0.01))
    h1 = stack.fit(features, data[1], epochs=3, batch_size=16, progress=False)
    h2 = graph.fit(features, data[1], epochs=3, batch_size=16, progress=False)
    assert h1["loss"] == h2["loss"] and h1["accuracy"] == h2["accuracy"]
    np.testing.assert_array_equal(stack.predict(features), graph.predict(features))


def test_fit_evaluate_predict_save_and_load_with_two_inputs(tmp_path):
    rng = np.random.default_rng(0)
    a, b = Input((3,), name="a"), Input((2,), name="b")
    h = Concatenate()([Dense(8)(a), Dense(8)(b)])
    model = Model([a, b], Dense(2)(Activation("relu")(h)), seed=1, name="two-in")
    model.compile("softmax_cross_entropy", Adam(0.02))
    xa, xb = rng.standard_normal((200, 3)), rng.standard_normal((200, 2))
    y = ((xa[:, 0] + xb[:, 1]) > 0).astype(int)
    history = model.fit([xa, xb], y, epochs=15, batch_size=32, progress=False,
                        validation_data=([xa, xb], y))
    assert history["val_accuracy"][-1] > 0.9
    path = model.save(tmp_path / "graph.npz")
    again = atlas.load(path)
    assert isinstance(again, Model) and again.name == "two-in"
    np.testing.assert_array_equal(again.predict([xa, xb]), model.predict([xa, xb]))
    assert "Connected to" in again.summary(print_fn=None)
    with pytest.raises(ValueError, match="expected a list of 2 inputs, got one array"):
        model.predict(xa)
    with pytest.raises(ValueError, match=r"expected input 1 inputs of shape \(N, 2\)"):
        model.predict([xa, xa])
    a2 = Input((3,))
    other = Model(a2, Dense(2)(a2))
    with pytest.raises(ValueError, match="another architecture"):
        other.load_weights(path)


def test_bad_wiring_is_refused_at_construction():
    x, y = Input((3,)), Input((4,))
    with pytest.raises(ValueError, match=r"Add needs inputs of one shape, got \(None, 3\), "
                                         r"\(None, 4\)"):
        Add()([x, y])
    with pytest.raises(ValueError, match="Concatenate along axis -1 needs the other axes"):
        Concatenate()([Input((2, 3)), Input((3, 3))])
    with pytest.raises(ValueError, match="merges two or more tensors"):
        Add()([x])
    with pytest.raises(TypeError, match="merges a list of tensors"):
        Add()(x)
    with pytest.raises(TypeError, match="Dense takes one tensor"):
        Dense(2)([x, x])
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(x, Add()([Dense(4)(x), y]))
    with pytest.raises(ValueError, match="input 'unused' of shape \\(None, 4\\) reaches no output"):
        Model([x, Input((4,), name="unused")], Dense(2)(x))
    with pytest.raises(ValueError, match="must be atlas.Input tensors"):
        Model(Dense(2)(x), Dense(1)(Dense(2)(x)))
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(x, np.zeros(3))
    shared = Dense(2)
    shared(x)
    with pytest.raises(ValueError, match="is shared: it was first called on \\(None, 3\\)"):
        shared(y)
    with pytest.raises(ValueError, match="Dense expects vectors"):
        Dense(2)(Input((1, 2, 3)))


def test_a_cycle_in_a_config_is_refused():
    x = Input((3,))
    model = Model(x, Dense(3)(Dense(3)(x)))
    config = model.get_config()
    config["nodes"][0]["inputs"] = [["node", 1]]  # node 0 now reads node 1, which reads node 0
    with pytest.raises(ValueError, match="the graph has a cycle"):
        Model.from_config(config)


def test_integer_token_inputs_go_to_the_embedding(rng):
    tokens, extra = Input((5,)), Input((2,))
    text = atlas.LSTM(4)(atlas.Embedding(7, 3)(tokens))
    model = Model([tokens, extra], Dense(2)(Concatenate()([text, extra])))
    model.compile("softmax_cross_entropy", Adam(0.01))
    x = [rng.integers(0, 7, (8, 5)), rng.standard_normal((8, 2))]
    model.fit(x, rng.integers(0, 2, 8), epochs=1, progress=False)
    with pytest.raises(ValueError, match="tokens must lie in \\[0, 7\\)"):
        model.predict([np.full((2, 5), 9), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="expected integer tokens for Embedding"):
        model.predict([np.zeros((2, 5)), np.zeros((2, 2))])


def test_a_layer_feeding_only_an_activation_runs_with_it_and_the_gradients_stay_exact(rng):
    """A dense layer whose output only an element-wise activation reads runs as one step
    with it; one whose output something else reads too, or a shared one, does not. The
    gradients through both kinds of step against central differences."""
    x = Input((3,))
    h1 = Activation("tanh")(Dense(4, bias_init="normal")(x))  # one step
    b = Dense(4)(x)  # also read by Add
    h2 = Add()([Activation("sigmoid")(b), b])
    shared = Dense(4)
    h3 = Activation("elu")(shared(Add()([h1, h2])))
    h4 = Activation("gelu")(shared(h1))
    model = Model(x, Dense(2)(Concatenate()([h3, h4])), dtype="float64")
    fused = [(node.layer.kind, after.layer.function) for node in model.nodes
             for after in [model._fused.get(id(node))] if after is not None]
    assert fused == [("Dense", "tanh")]
    check_model_gradients(model, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


def test_a_layer_after_an_activation_it_alone_reads_writes_the_gradient_through_it(rng):
    """Backward, a dense layer that alone reads an element-wise activation's output
    returns the gradient with respect to the activation's input (one step for both); an
    activation whose output two layers read, one before a shared layer, and one before a
    layer that cannot (`Add`) keep their own backward. The gradients against central
    differences."""
    x = Input((3,))
    h1 = Dense(4)(Activation("tanh")(Dense(4, bias_init="normal")(x)))  # chained
    e = Activation("elu")(Dense(4)(x))  # read by two layers
    h2 = Add()([Dense(4)(e), Dense(4)(e)])
    shared = Dense(4)
    h3 = shared(Activation("swish")(h1))  # before a shared layer
    h4 = shared(Activation("sigmoid")(h2))
    out = Add()([Activation("softplus")(h3), h4])  # before Add
    model = Model(x, Dense(2)(out), dtype="float64")
    chained = [(before.layer.function, node.layer.kind) for node in model.nodes
               for before in [model._chained.get(id(node))] if before is not None]
    assert chained == [("tanh", "Dense")]
    check_model_gradients(model, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


def test_graph_on_the_cuda_backend_in_the_simulator_matches_the_cpu(rng):
    def build(device):
        x1, x2 = Input((3,)), Input((3,))
        shared = Dense(4)
        h = Concatenate()([shared(x1), Activation("tanh")(shared(x2))])
        fused = Activation("relu")(Dense(8)(x1))  # one step: one product on the GPU
        chained = Activation("swish")(Multiply()([Add()([h, fused]), h]))  # backward: one
        out = Dense(2)(chained)  # step with this layer's input gradient
        return Model([x1, x2], out, device=device, dtype="float64", seed=0)

    x = [rng.standard_normal((6, 3)), rng.standard_normal((6, 3))]
    y = rng.integers(0, 2, 6)
    results = []
    for device in ("cpu", "cuda"):
        model = build(device)
        model.compile("softmax_cross_entropy", Adam(0.05))
        model.fit(x, y, epochs=2, batch_size=3, shuffle=False, progress=False)
        results.append(model.predict(x))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-9)
