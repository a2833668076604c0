"""Bad inputs through the data API (issue 16): refused with the toolkit's error naming the
parameter, and a failed download leaves no folder behind."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.nets.datasets import check_data
from sgdnoise.nets.files import download


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("name", ["cifar-10-python.tar.gz", "t10k-labels-idx1-ubyte.gz"])
def test_failed_download_leaves_no_folders(tmp_path, no_network, name):
    target = tmp_path / "a" / "b" / "c"
    with pytest.raises(ParameterError) as e:
        download(name, target)
    assert e.value.parameter == "data_dir" and "could not be downloaded" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_keeps_a_folder_that_was_there(tmp_path, no_network):
    (tmp_path / "keep").mkdir()
    with pytest.raises(ParameterError):
        download("cifar-10-python.tar.gz", tmp_path / "keep" / "new")
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
    assert list((tmp_path / "keep").iterdir()) == []


def test_load_dataset_download_into_a_missing_folder(tmp_path, no_network):
    from sgdnoise.nets import load_dataset

    with pytest.raises(ParameterError) as e:
        load_dataset("mnist", data_dir=tmp_path / "x" / "y", download=True, device="cpu")
    assert e.value.parameter == "data_dir"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,parameter", [("imagenet", "name"), ("cifar10", "data_dir")])
def test_check_data_names_the_parameter(tmp_path, name, parameter):
    with pytest.raises(ParameterError) as e:
        check_data(name, tmp_path)
    assert e.value.parameter == parameter
