import numpy as np
import pytest

from atlas.data import CharVocabulary, python_stdlib_source, read_text


def test_the_standard_library_is_a_corpus_of_real_code():
    text = python_stdlib_source(200_000)
    assert len(text) == 200_000
    assert "def " in text and "import " in text and "\n    " in text
    assert text == python_stdlib_source(200_000)  # the same text every time


def test_vocabulary_round_trips_and_rejects_unknown_characters():
    vocab = CharVocabulary("hello world")
    tokens = vocab.encode("hollow")
    assert tokens.dtype == np.int64 and vocab.decode(tokens) == "hollow"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary of 8"):
        vocab.encode("zoo")


def test_read_text_explains_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no text file"):
        read_text(tmp_path / "nope.txt")
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\xff\xfe\x00\x80" * 10)
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_text(binary)
