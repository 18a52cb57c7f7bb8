import numpy as np

import atlas
from atlas.models import char_lm


def test_the_hello_rnn_learns_to_predict_ello():
    model, losses, predicted = char_lm.train_hello()
    assert predicted == "ello"
    assert losses[-1] < 0.05 < losses[0]


def test_language_model_learns_trains_samples_and_survives_saving(tmp_path):
    text = "abcabcabd" * 300
    model, history = char_lm.train_char_lm(text, minutes=5, max_steps=120, seq_len=20,
                                           hidden=32, layers=1, embedding=8, eval_every=60,
                                           progress=False)
    assert history["step"] == [60, 120]
    # The text is nearly deterministic: after "ab" comes c (2/3) or d (1/3); a model that
    # learned it is far below the uniform 2 bits over {a, b, c, d}.
    assert history["heldout_bpc"][-1] < 0.6
    assert abs(history["train_bpc"][-1] - history["heldout_bpc"][-1]) < 0.2  # same text
    sample = char_lm.sample(model, 30, prime="abc", temperature=0.5)
    assert len(sample) == 30 and set(sample) <= set("abcd")
    path = model.save(tmp_path / "lm.npz")
    again = atlas.load(path)
    assert again.metadata["vocabulary"] == "abcd"
    assert char_lm.sample(again, 30, prime="abc", temperature=0.5) == sample


def test_whole_documents_are_held_out_at_random_and_reproducibly():
    documents = [f"doc{i:02d} " * (10 + 7 * i) for i in range(30)]
    train, held = char_lm.split_documents(documents, 0.1, np.random.default_rng(0))
    total = sum(map(len, documents))
    assert sorted(train + held) == sorted(documents) and not set(train) & set(held)
    assert 0.1 * total <= sum(map(len, held)) < 0.1 * total + max(map(len, documents))
    assert held != documents[-len(held):]  # not simply the end of the corpus
    again = char_lm.split_documents(documents, 0.1, np.random.default_rng(0))
    assert again == (train, held)
    one_text = char_lm.documents_of("x" * 50_000, seq_len=100)
    assert len(one_text) == 20 and {len(d) for d in one_text} == {2_500}


def test_a_step_budget_trains_the_same_model_twice():
    text = "the cat sat on the mat. " * 60
    runs = [char_lm.train_char_lm(text, max_steps=5, seq_len=16, hidden=8, layers=1,
                                  embedding=4, eval_every=5, progress=False) for _ in range(2)]
    assert runs[0][1]["heldout_bpc"] == runs[1][1]["heldout_bpc"]
    assert np.array_equal(runs[0][0].layers[-1].params["W"], runs[1][0].layers[-1].params["W"])


def test_gradients_vanish_faster_in_the_vanilla_rnn():
    v = char_lm.vanishing_gradients(steps=40, hidden=32)
    for name in ("rnn", "gru", "lstm", "lstm_forget_bias"):
        norms = v[name]
        assert norms.shape == (40,) and np.all(norms > 0)
        assert norms[0] < norms[-1]  # the further back, the smaller
    assert v["rnn"][0] < v["lstm_forget_bias"][0] * 1e-6
