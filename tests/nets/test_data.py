"""Loaders: official formats read by our code, restricted unpickling, checksums, subsets,
binary tasks, standardization, and every bad-input path → ParameterError(data_dir/...)."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
from conftest import (
    idx_bytes,
    malicious_pickle,
    write_cifar_folder,
    write_cifar_tarball,
    write_mnist,
)

from sgdnoise.errors import ParameterError
from sgdnoise.nets import files, load_cifar10, load_dataset, load_mnist
from sgdnoise.nets.datasets import binary_labels
from sgdnoise.nets.unpickle import restricted_loads


def test_cifar_folder_counts_and_pixel_layout(cifar_dir):
    root, truth = cifar_dir
    d = load_cifar10(root, download=False)
    # 5 batches of 7 and a test batch of 8: sizes come from the files.
    assert d["x_train"].shape == (35, 3, 32, 32) and d["x_test"].shape == (8, 3, 32, 32)
    assert d["provenance"] == "unverified"
    data, labels = truth["data_batch_2"]
    # channel-major RGB: row i, channel c, pixel (h, w) is data[i, 1024 c + 32 h + w]
    np.testing.assert_array_equal(d["x_train"][7 + 3, 2, 5, 9], data[3, 1024 * 2 + 32 * 5 + 9])
    np.testing.assert_array_equal(d["y_train"][7:14], labels)
    np.testing.assert_array_equal(d["y_test"], truth["test_batch"][1])


def test_cifar_tarball_unknown_name_is_read_unverified(cifar_dir, tmp_path):
    root, truth = cifar_dir
    tgz = write_cifar_tarball(root / "cifar-10-batches-py", tmp_path / "mine.tar.gz")
    d = load_cifar10(tgz, download=False)
    assert d["provenance"] == "unverified" and d["x_train"].shape[0] == 35
    np.testing.assert_array_equal(d["y_test"], truth["test_batch"][1])


def test_cifar_checksum_mismatch_refused(cifar_dir, tmp_path):
    root, _ = cifar_dir
    fake = tmp_path / "dl"
    fake.mkdir()
    write_cifar_tarball(root / "cifar-10-batches-py", fake / "cifar-10-python.tar.gz")
    with pytest.raises(ParameterError, match="checksum mismatch") as e:
        load_cifar10(fake, download=False)
    assert e.value.parameter == "data_dir"
    # verify=False reads it (the user's own re-packed copy)
    assert load_cifar10(fake, download=False, verify=False)["x_train"].shape[0] == 35


def test_cifar_truncated_archive_refused(cifar_dir, tmp_path):
    root, _ = cifar_dir
    tgz = write_cifar_tarball(root / "cifar-10-batches-py", tmp_path / "t.tar.gz")
    raw = tgz.read_bytes()
    tgz.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ParameterError, match="truncated or corrupt") as e:
        load_cifar10(tgz, download=False)
    assert e.value.parameter == "data_dir"


def test_malicious_pickle_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    root = tmp_path / "c"
    write_cifar_folder(root)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(malicious_pickle(marker))
    with pytest.raises(ParameterError, match="posix.system|os.system|nt.system") as e:
        load_cifar10(root, download=False)
    assert e.value.parameter == "data_dir"
    assert not marker.exists()
    with pytest.raises(ParameterError, match="builtins.eval"):
        # protocol 0 GLOBAL opcode naming builtins.eval
        restricted_loads(b"cbuiltins\neval\n(S'1+1'\ntR.")


@pytest.mark.parametrize(
    "payload,match",
    [
        (b"not a pickle at all", "not a readable"),
        (b"\x80\x02]q\x00.", "must pickle a dict"),  # an empty list
    ],
)
def test_cifar_wrong_format(tmp_path, payload, match):
    root = tmp_path / "c"
    write_cifar_folder(root)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(payload)
    with pytest.raises(ParameterError, match=match) as e:
        load_cifar10(root, download=False)
    assert e.value.parameter == "data_dir"


def test_cifar_wrong_shape(tmp_path):
    import pickle

    root = tmp_path / "c"
    write_cifar_folder(root)
    bad = {"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(ParameterError, match="shape"):
        load_cifar10(root, download=False)


def test_missing_data_and_no_network(tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match="holds no CIFAR-10") as e:
        load_cifar10(tmp_path, download=False)
    assert e.value.parameter == "data_dir"

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(files.urllib.request, "urlopen", offline)
    with pytest.raises(ParameterError, match="could not be downloaded"):
        load_mnist(tmp_path, download=True)
    with pytest.raises(ParameterError, match="could not be downloaded"):
        load_cifar10(tmp_path, download=True)
    monkeypatch.delenv(files.ENV_VAR, raising=False)
    with pytest.raises(ParameterError) as e:
        load_cifar10(None, download=False)
    assert e.value.parameter == "data_dir"


def test_mnist_raw_idx(mnist_dir, monkeypatch):
    root, arrays = mnist_dir
    monkeypatch.setenv(files.ENV_VAR, str(root))  # location from the environment variable
    d = load_mnist(download=False)
    assert d["x_train"].shape == (9, 1, 28, 28) and d["x_test"].shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(d["x_train"][:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d["y_test"], arrays["t10k-labels-idx1-ubyte"])
    assert d["provenance"] == "unverified"


def test_mnist_gz_checksums(tmp_path):
    write_mnist(tmp_path / "m", gz=True)
    # gz files under official names whose bytes are neither official nor a known subset
    with pytest.raises(ParameterError, match="checksum mismatch") as e:
        load_mnist(tmp_path / "m", download=False)
    assert e.value.parameter == "data_dir"
    assert load_mnist(tmp_path / "m", download=False, verify=False)["x_train"].shape[0] == 9


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda raw: raw[:-5], "truncated or corrupt"),
        (lambda raw: b"\x01" + raw[1:], "bad magic"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "expected uint8"),
    ],
)
def test_mnist_corrupt_idx(mnist_dir, mutate, match):
    root, _ = mnist_dir
    p = root / "t10k-images-idx3-ubyte"
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(ParameterError, match=match) as e:
        load_mnist(root, download=False)
    assert e.value.parameter == "data_dir"


def test_mnist_truncated_gzip(tmp_path):
    write_mnist(tmp_path / "m", gz=True)
    p = tmp_path / "m" / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-8])
    with pytest.raises(ParameterError, match="truncated or corrupt"):
        load_mnist(tmp_path / "m", download=False, verify=False)


def test_mnist_image_label_count_mismatch(mnist_dir):
    root, _ = mnist_dir
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ParameterError, match="5 images but 4 labels"):
        load_mnist(root, download=False)


def test_subsets_binary_and_standardization(cifar_dir):
    root, _ = cifar_dir
    a = load_dataset("cifar10", data_dir=root, n_train=20, n_test=5, seed=3, device="cpu")
    b = load_dataset("cifar10", data_dir=root, n_train=20, n_test=5, seed=3, device="cpu")
    c = load_dataset("cifar10", data_dir=root, n_train=20, n_test=5, seed=4, device="cpu")
    np.testing.assert_array_equal(a.meta["train_indices"], b.meta["train_indices"])
    assert not np.array_equal(a.meta["train_indices"], c.meta["train_indices"])
    assert len(set(a.meta["train_indices"])) == 20
    # per-channel standardization on the training subset
    m = a.x_train.mean(dim=(0, 2, 3))
    s = a.x_train.std(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(m, torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(s, torch.ones(3), atol=1e-5, rtol=0)
    assert a.num_classes == 10 and a.x_train.device.type == "cpu"
    with pytest.raises(ParameterError) as e:
        load_dataset("cifar10", data_dir=root, n_train=36, device="cpu")
    assert e.value.parameter == "n_train"
    with pytest.raises(ParameterError) as e:
        load_dataset("imagenet", data_dir=root)
    assert e.value.parameter == "name"


def test_binary_label_maps():
    digits = np.arange(10)
    np.testing.assert_array_equal(binary_labels("mnist", digits), [1, 0] * 5)
    # airplane, automobile, ship, truck are vehicles (0); the six animals are 1
    np.testing.assert_array_equal(binary_labels("cifar10", digits), [0, 0, 1, 1, 1, 1, 1, 1, 0, 0])


def test_mnist_binary_dataset(mnist_dir):
    root, arrays = mnist_dir
    d = load_dataset("mnist", data_dir=root, task="binary", device="cpu", standardize=False)
    expect = (arrays["train-labels-idx1-ubyte"] % 2 == 0).astype(int)
    np.testing.assert_array_equal(d.y_train.numpy(), expect)
    assert float(d.x_train.max()) <= 1.0 and d.num_classes == 2


def test_find_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(files.ENV_VAR, str(tmp_path))
    assert files.find_data_dir() == tmp_path
    assert files.find_data_dir(tmp_path / ".") == tmp_path / "."
    with pytest.raises(ParameterError) as e:
        files.find_data_dir(tmp_path / "absent")
    assert e.value.parameter == "data_dir"


@pytest.mark.realdata
def test_real_cifar_subset(shared_data):
    d = load_cifar10(shared_data, download=False)
    assert d["provenance"] == "subset"
    assert d["x_train"].shape == (5 * 1017, 3, 32, 32) and d["x_test"].shape == (1017, 3, 32, 32)
    assert set(np.unique(d["y_train"])) == set(range(10))


@pytest.mark.realdata
def test_real_mnist(shared_data):
    d = load_mnist(shared_data, download=False)
    assert d["x_train"].shape == (17_435, 1, 28, 28) and d["x_test"].shape == (10_000, 1, 28, 28)
    assert d["provenance"] == "subset"  # the weakest of: train files subset, test official
    assert files.verify_file(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz") == "official"
    assert files.verify_file(shared_data / "mnist" / "train-labels-idx1-ubyte.gz") == "subset"
    # the real test labels: every digit, roughly balanced
    counts = np.bincount(d["y_test"], minlength=10)
    assert counts.min() > 850 and counts.sum() == 10_000


@pytest.mark.realdata
def test_real_dataset_device_tensors(shared_data):
    d = load_dataset(
        "cifar10", data_dir=shared_data, n_train=300, n_test=100, task="binary", device="cpu"
    )
    assert d.x_train.shape == (300, 3, 32, 32) and d.y_train.dtype == torch.int64
    # six of ten classes are animals
    assert 0.45 < float(d.y_train.float().mean()) < 0.75


def test_heldout_training_images_join_the_test_set(cifar_dir):
    root, _ = cifar_dir
    kw = dict(data_dir=root, n_train=20, n_test=5, seed=3, device="cpu", task="binary")
    plain = load_dataset("cifar10", **kw)
    d = load_dataset("cifar10", heldout_test=True, **kw)
    n_avail = d.meta["n_available_train"]
    held = d.meta["heldout_train_indices"]
    # exactly the training images outside the subset, after the unchanged test images
    assert sorted(set(held) | set(d.meta["train_indices"])) == list(range(n_avail))
    assert not set(held) & set(d.meta["train_indices"])
    assert len(d.x_test) == 5 + n_avail - 20 and len(d.y_test) == len(d.x_test)
    torch.testing.assert_close(d.x_test[:5], plain.x_test[:5])
    torch.testing.assert_close(d.x_train, plain.x_train)  # the training set does not move
    # a held-out image is the raw training image, standardized with the training statistics
    raw = load_cifar10(root, download=False)
    mean = torch.tensor(d.meta["channel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(d.meta["channel_std"]).view(1, 3, 1, 1)
    x0 = torch.as_tensor(raw["x_train"][held[:1]] / 255.0, dtype=torch.float32)
    torch.testing.assert_close(d.x_test[5:6], (x0 - mean) / std, atol=1e-5, rtol=1e-5)
    assert int(d.y_test[5]) == int(binary_labels("cifar10", raw["y_train"][held[:1]])[0])
    with pytest.raises(ParameterError) as e:
        load_dataset("cifar10", heldout_test="yes", **kw)
    assert e.value.parameter == "heldout_test"
