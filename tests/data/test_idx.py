import gzip
import urllib.error

import numpy as np
import pytest

from atlas.data import IDXError, datasets, read_idx, write_idx


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, name, dtype, rng):
    array = (rng.standard_normal((3, 5, 2)) * 50).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 5, 2)
    np.testing.assert_array_equal(back, array)


def test_corrupt_files_get_clear_errors(tmp_path):
    good = tmp_path / "good.idx"
    write_idx(good, np.arange(12, dtype=np.uint8).reshape(3, 4))
    data = good.read_bytes()
    cases = {
        "magic": (b"\x01\x00" + data[2:], "bad magic number"),
        "type": (data[:2] + b"\x07" + data[3:], "bad magic number"),
        "short": (data[:-1], "needs 24 bytes, the file has 23"),
        "long": (data + b"\x00", "needs 24 bytes, the file has 25"),
        "header": (data[:6], "header announces 2 dimensions"),
        "gzip": (gzip.compress(data)[:-6], "broken gzip stream"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(IDXError, match=message):
            read_idx(path)
    with pytest.raises(FileNotFoundError, match="no IDX file"):
        read_idx(tmp_path / "missing")


def make_dataset(root, name="fashion-mnist", n=7):
    folder = root / name
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("test", 3)):
        images, labels = datasets.FILES[split]
        write_idx(folder / images, rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / labels, rng.integers(0, 10, count).astype(np.uint8))
    return folder


def test_loader_finds_files_under_atlas_data(tmp_path, monkeypatch):
    make_dataset(tmp_path)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    x, y = datasets.load_fashion_mnist("train", download=False)
    assert x.shape == (7, 28, 28) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    assert y.shape == (7,) and y.dtype == np.int64
    raw, _ = datasets.load_fashion_mnist("test", download=False, normalize=False)
    assert raw.dtype == np.uint8 and raw.shape == (3, 28, 28)


def test_offline_error_says_where_it_looked_and_how_to_get_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "search_dirs",
                        lambda spec: [tmp_path / "empty" / spec.name, tmp_path / "cache"])

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(datasets.DataNotFoundError) as error:
        datasets.load_mnist("train")
    message = str(error.value)
    assert "Looked in" in message and str(tmp_path / "empty") in message
    assert "no network" in message and "ATLAS_DATA" in message
    assert not (tmp_path / "cache" / "atlas").exists()


def test_download_verifies_the_checksum_and_writes_atomically(tmp_path, monkeypatch):
    payload = b"pretend gzip"

    class Response:
        def __init__(self, url, timeout):
            pass

        def read(self):
            return payload

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(datasets.urllib.request, "urlopen", Response)
    target = tmp_path / "f.gz"
    with pytest.raises(ValueError, match="checksum mismatch"):
        datasets.fetch("http://mirror/f.gz", target, "0" * 32)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    import hashlib
    datasets.fetch("http://mirror/f.gz", target, hashlib.md5(payload).hexdigest())
    assert target.read_bytes() == payload


def test_real_fashion_mnist_if_installed():
    try:
        x, y = datasets.load_fashion_mnist("test", download=False)
    except datasets.DataNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here (apt-get install dataset-fashion-mnist)")
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist() == [1000] * 10
