import subprocess
import sys

import pytest

from atlas import cli
from tests.data.test_idx import make_dataset


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "atlas.cli", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "train" in out.stdout


def test_train_mlp_end_to_end_on_a_tiny_data_set(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=5100)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    assert cli.main(["train", "mlp", "--epochs", "1", "--hidden", "8", "--no-progress",
                     "--save", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST test accuracy" in out and "Total params" in out
    assert (tmp_path / "m.npz").exists()


def test_train_lenet_end_to_end_on_a_tiny_data_set(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=600)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    assert cli.main(["train", "lenet", "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST test accuracy" in out and "(None, 6, 28, 28)" in out


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", "nothing"])
    assert exit.value.code == 2


def test_train_char_lstm_on_a_text_file_then_sample(tmp_path, capsys):
    text = tmp_path / "poem.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 80)
    saved = tmp_path / "char.npz"
    assert cli.main(["train", "char-lstm", "--text", str(text), "--steps", "3",
                     "--no-progress", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "3 steps" in out and "on held-out documents" in out and "(None, 100, 256)" in out
    assert cli.main(["sample", str(saved), "--length", "40", "--prime", "the "]) == 0
    generated = capsys.readouterr().out.rstrip("\n")
    assert len(generated) == 40 and set(generated) <= set(text.read_text())


def test_train_char_lstm_names_a_missing_text_file(tmp_path, capsys):
    assert cli.main(["train", "char-lstm", "--text", str(tmp_path / "absent.txt")]) == 2
    assert "atlas train: no text file at" in capsys.readouterr().err


def test_train_resnet_end_to_end_on_a_tiny_data_set(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=300)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    assert cli.main(["train", "resnet", "--depth", "8", "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST test accuracy" in out and "resnet-8" in out and "Connected to" in out
    assert cli.main(["train", "resnet", "--depth", "9"]) == 2
    assert "depth must be 6n + 2" in capsys.readouterr().err


def test_train_vqa_with_baselines_then_ask(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=400)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    saved = tmp_path / "vqa.npz"
    assert cli.main(["train", "vqa", "--scenes", "60", "--epochs", "1", "--baselines",
                     "--no-progress", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    for line in ("| both |", "| image |", "| question |", "exists", "relation"):
        assert line in out
    assert cli.main(["ask", str(saved), "--image-index", "2", "is there a bag ?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test scene 2 (rows: ") and "is there a bag ? -> " in out
    assert len(out.strip().splitlines()) == 5  # the scene, the answer, the top 3
    assert cli.main(["ask", str(saved), "is there an umbrella ?"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err
    assert cli.main(["ask", str(saved), "--image-index", "123456789", "is there a bag ?"]) == 2
    assert "--image-index must be below 10,000" in capsys.readouterr().err


def test_train_dqn_briefly_save_and_play(tmp_path, capsys):
    saved = tmp_path / "dqn.npz"
    assert cli.main(["train", "dqn", "--steps", "300", "--no-progress", "--save",
                     str(saved)]) == 0
    out = capsys.readouterr().out
    assert "greedy policy over 100 episodes: mean return" in out and saved.exists()
    assert cli.main(["play", str(saved), "--episodes", "3"]) == 0
    assert "CartPole-v1, greedy policy over 3 episodes" in capsys.readouterr().out
    assert cli.main(["play", str(saved), "--env", "MountainCar-v0"]) == 2
    assert "MountainCar-v0 has observations of shape (2,)" in capsys.readouterr().err
    assert cli.main(["train", "dqn", "--env", "NoSuchEnv-v0"]) == 2
    assert "unknown Gymnasium environment" in capsys.readouterr().err


def test_train_the_unsupervised_models_then_generate(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=300)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    assert cli.main(["train", "ae", "--epochs", "1", "--code-size", "4", "--no-progress"]) == 0
    assert "PCA with 4 components" in capsys.readouterr().out
    assert cli.main(["train", "dae", "--conv", "--noise", "gaussian", "--noise-level", "0.2",
                     "--epochs", "1", "--no-progress"]) == 0
    assert cli.main(["train", "sdae", "--labels", "50", "--epochs", "1", "--no-progress"]) == 0
    assert "pretrained" in capsys.readouterr().out
    ring, images = tmp_path / "ring.npz", tmp_path / "dcgan.npz"
    assert cli.main(["train", "gan", "--steps", "20", "--no-progress", "--save", str(ring)]) == 0
    assert "of 8 modes covered" in capsys.readouterr().out
    assert cli.main(["train", "dcgan", "--epochs", "1", "--images", "128", "--no-progress",
                     "--save", str(images)]) == 0
    for model, out in ((ring, "ring.svg"), (images, "grid.png")):
        assert cli.main(["generate", str(model), "--n", "9", "--out", str(tmp_path / out)]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "ring.svg").read_bytes()[:500]


def test_generate_and_dcgan_refuse_what_they_cannot_use(tmp_path, capsys):
    from atlas.models.gan import dcgan_generator
    from atlas.nn import Dense, Sequential

    Sequential([Dense(2)], input_shape=(3,)).save(tmp_path / "dense.npz")
    assert cli.main(["generate", str(tmp_path / "dense.npz")]) == 2
    assert "is not a generator" in capsys.readouterr().err
    dcgan_generator(8).save(tmp_path / "g.npz")
    assert cli.main(["generate", str(tmp_path / "g.npz"), "--out", str(tmp_path / "g.txt")]) == 2
    assert "ending in .png, .svg or .pdf" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("shopping list")
    assert cli.main(["train", "dcgan", "--classifier", str(tmp_path / "notes.txt")]) == 2
    assert "not an atlas model file" in capsys.readouterr().err
