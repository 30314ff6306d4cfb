import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_files import write_cifar10, write_fashion_mnist
from regclip_bench.data import Batches, load_data, vision
from regclip_bench.data.augment import random_crop_flip, random_resized_crop_flip
from regclip_bench.errors import ConfigError
from regclip_bench.spec import CIFAR10Data, DigitsData, FashionMNISTData, TeacherData

CPU = torch.device("cpu")


def test_teacher_data_is_fixed_by_its_seed():
    spec = TeacherData(source="teacher", n=20, n_test=7, input_dim=5, output_dim=2, seed=3)
    a, b = load_data(spec, CPU), load_data(spec, CPU)
    assert a.train_x.shape == (20, 5) and a.train_y.shape == (20, 2) and a.test_x.shape == (7, 5)
    assert torch.equal(a.train_y, b.train_y) and torch.equal(a.test_x, b.test_x)
    other = load_data(spec.model_copy(update={"seed": 4}), CPU)
    assert not torch.equal(a.train_x, other.train_x)
    # targets come from a fixed network: a deterministic function of the inputs
    assert a.train_y.std() > 0.05 and a.num_classes is None


def test_digits_is_the_real_dataset_split_without_overlap():
    data = load_data(DigitsData(source="digits", test_fraction=0.2), CPU)
    assert data.n_train + len(data.test_x) == 1797
    assert len(data.test_x) == 359 and data.input_shape == (64,) and data.num_classes == 10
    assert 0.0 <= data.train_x.min() and data.train_x.max() <= 1.0
    assert set(data.train_y.tolist()) == set(range(10))
    rows = {tuple(r) for r in data.train_x.tolist()}
    assert sum(tuple(r) in rows for r in data.test_x.tolist()) < 5   # digits has a few duplicate images


def test_cifar10_loader_reads_the_real_format(tmp_path):
    written = write_cifar10(tmp_path)
    spec = CIFAR10Data(source="cifar10", root=str(tmp_path), verify_checksums=False, augment="none")
    data = load_data(spec, CPU)
    assert data.train_x.shape == (20, 3, 32, 32) and data.train_x.dtype == torch.uint8
    first, labels = written["data_batch_1"]
    assert torch.equal(data.train_x[0], torch.from_numpy(first[0].reshape(3, 32, 32)))
    assert data.train_y[:4].tolist() == labels
    assert data.test_x.shape == (6, 3, 32, 32)
    x = data.inputs(data.test_x[:2])
    red = (first[0].reshape(3, 32, 32)[0, 0, 0] / 255 - 0.4914) / 0.2023   # the paper code's std
    assert x.dtype == torch.float32 and x.shape == (2, 3, 32, 32)
    assert abs(data.inputs(data.train_x[:1])[0, 0, 0, 0].item() - red) < 1e-5


def test_cifar10_for_the_papers_vit_is_cropped_but_neither_flipped_nor_normalised(tmp_path):
    write_cifar10(tmp_path)
    spec = CIFAR10Data(source="cifar10", root=str(tmp_path), verify_checksums=False, augment="resized_crop",
                       normalize=False, image_size=64)
    data = load_data(spec, CPU)
    x = data.inputs(data.test_x[:2])
    assert torch.allclose(x, torch.nn.functional.interpolate(data.test_x[:2].float() / 255, size=(64, 64),
                                                             mode="bilinear", antialias=True))
    crops = [data.inputs(data.train_x[:4], torch.Generator().manual_seed(s)) for s in (0, 1)]
    assert 0 <= crops[0].min() and crops[0].max() <= 1 and not torch.equal(*crops)
    from regclip_bench.data.augment import random_resized_crop_flip
    a = random_resized_crop_flip(data.train_x[:8].float(), torch.Generator().manual_seed(3), 64, (0.05, 1), flip=False)
    b = random_resized_crop_flip(data.train_x[:8].float(), torch.Generator().manual_seed(3), 64, (0.05, 1), flip=True)
    assert not torch.equal(a, b)       # flip=False is the same crop, never mirrored


def test_cifar10_checksums_are_checked_by_default(tmp_path):
    write_cifar10(tmp_path)
    with pytest.raises(ConfigError, match="cifar10: dataset files not found under"):
        load_data(CIFAR10Data(source="cifar10", root=str(tmp_path)), CPU)


def test_cifar10_resized_for_the_vit(tmp_path):
    write_cifar10(tmp_path)
    spec = CIFAR10Data(source="cifar10", root=str(tmp_path), verify_checksums=False,
                       augment="resized_crop_flip", image_size=64)
    data = load_data(spec, CPU)
    assert data.input_shape == (3, 64, 64)
    assert data.inputs(data.train_x[:3], torch.Generator().manual_seed(0)).shape == (3, 3, 64, 64)
    assert data.inputs(data.test_x[:3]).shape == (3, 3, 64, 64)


def test_fashion_mnist_loader_reads_the_real_format(tmp_path):
    written = write_fashion_mnist(tmp_path)
    data = load_data(FashionMNISTData(source="fashion_mnist", root=str(tmp_path), verify_checksums=False), CPU)
    images, labels = written["train"]
    assert data.train_x.shape == (10, 28, 28)
    assert torch.equal(data.train_x, torch.from_numpy(images))
    assert data.train_y.tolist() == labels.tolist() and len(data.test_x) == 5
    x = data.inputs(data.train_x[:2])
    assert x.shape == (2, 784) and torch.allclose(x[0], torch.from_numpy(images[0]).flatten().float() / 255)


@pytest.mark.parametrize("spec, where", [
    (FashionMNISTData(source="fashion_mnist", root="/nonexistent/data"), "apt-get install dataset-fashion-mnist"),
    (CIFAR10Data(source="cifar10", root="/nonexistent/data"), "cifar-10-batches-py"),
])
def test_missing_files_say_where_they_go_and_how_to_fetch(spec, where, monkeypatch):
    monkeypatch.setattr(vision, "DEFAULT_ROOT", "/nonexistent/cache")   # as on a machine without them
    monkeypatch.setattr(vision, "DEBIAN_FASHION_MNIST", "/nonexistent/debian")
    with pytest.raises(ConfigError) as info:
        load_data(spec, CPU)
    message = str(info.value)
    assert "/nonexistent/data" in message and where in message and "--set data.download=true" in message


def test_fashion_mnist_is_read_gzipped_and_checked(tmp_path):
    write_fashion_mnist(tmp_path, gzipped=True)
    folder = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in folder.iterdir())[0].endswith(".gz")
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte: not the published file \(SHA-256 differs\); "
                                          r"set data.verify_checksums=false"):
        load_data(FashionMNISTData(source="fashion_mnist", root=str(tmp_path)), CPU)
    data = load_data(FashionMNISTData(source="fashion_mnist", root=str(tmp_path), verify_checksums=False), CPU)
    assert data.train_x.shape == (10, 28, 28)


def test_reading_fashion_mnist_files_leaves_torchvision_unimported(tmp_path):
    write_fashion_mnist(tmp_path, gzipped=True)
    code = (f"import sys; from regclip_bench.data import load_data; from regclip_bench.spec import FashionMNISTData\n"
            f"import torch; data = load_data(FashionMNISTData(source='fashion_mnist', root={str(tmp_path)!r}, "
            f"verify_checksums=False), torch.device('cpu'))\nprint(len(data.train_x), 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10", "False"]


REAL = Path(vision.DEBIAN_FASHION_MNIST)


@pytest.mark.skipif(not REAL.is_dir(), reason="no Fashion-MNIST here (Debian: apt-get install dataset-fashion-mnist)")
def test_the_real_fashion_mnist_is_found_with_no_flag_and_checked():
    data = load_data(FashionMNISTData(source="fashion_mnist", root="/nowhere"), CPU)
    assert (len(data.train_x), len(data.test_x)) == (60_000, 10_000)
    assert data.train_y.bincount().tolist() == [6_000] * 10 and data.test_y.bincount().tolist() == [1_000] * 10


def test_random_crop_flip_shifts_by_whole_pixels_with_zero_padding():
    images = torch.rand(64, 3, 8, 8)
    out = random_crop_flip(images, torch.Generator().manual_seed(0), padding=2)
    for original, augmented in zip(images, out):
        found = False
        for flip in (False, True):
            src = original.flip(-1) if flip else original
            padded = torch.nn.functional.pad(src, (2, 2, 2, 2))
            for dy in range(5):
                for dx in range(5):
                    if torch.equal(padded[:, dy:dy + 8, dx:dx + 8], augmented):
                        found = True
        assert found


def test_random_resized_crop_stays_inside_the_image_and_varies():
    gen = torch.Generator().manual_seed(0)
    ones = torch.ones(256, 3, 16, 16)
    # a crop window that left the image would bring in the zero padding
    out = random_resized_crop_flip(ones, gen, 24, scale=(0.05, 1.0))
    assert out.shape == (256, 3, 24, 24) and (out - 1).abs().max() < 1e-5
    ramp = torch.linspace(0, 1, 16).expand(8, 3, 16, 16).contiguous()
    crops = random_resized_crop_flip(ramp, gen, 16, scale=(0.05, 0.2))
    assert crops.std(dim=0).mean() > 0.01   # different crops per image, not one per batch


def test_batches_cover_each_epoch_once_and_full_batch_means_everything():
    gen = torch.Generator().manual_seed(0)
    batches = Batches(10, 4, gen, CPU)
    epoch = torch.cat([batches.next() for _ in range(batches.steps_per_epoch)])
    assert batches.steps_per_epoch == 3 and sorted(epoch.tolist()) == list(range(10))
    assert Batches(10, None, gen, CPU).next() is None
    assert np.array_equal(Batches(10, 4, torch.Generator().manual_seed(0), CPU).next().numpy(),
                          Batches(10, 4, torch.Generator().manual_seed(0), CPU).next().numpy())
