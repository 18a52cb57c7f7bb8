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
    sample = char_lm.sample(model, 30, prime="abc", temperature=0.5)
    assert len(sample) == 30 and set(sample) <= set("abcd")
    path = model.save(tmp_path / "lm.npz")
    again = atlas.load(path)
    assert again.metadata["vocabulary"] == "abcd"
    assert char_lm.sample(again, 30, prime="abc", temperature=0.5) == sample


def test_gradients_vanish_faster_in_the_vanilla_rnn():
    v = char_lm.vanishing_gradients(steps=40, hidden=32)
    for name in ("rnn", "gru", "lstm", "lstm_forget_bias"):
        norms = v[name]
        assert norms.shape == (40,) and np.all(norms > 0)
        assert norms[0] < norms[-1]  # the further back, the smaller
    assert v["rnn"][0] < v["lstm_forget_bias"][0] * 1e-6
