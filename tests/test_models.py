import pytest
import torch

from regclip_bench.models import MLP, MLPVAE, CifarResNet, ViT, build_model
from regclip_bench.spec import MLPSpec


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("width, depth", [(8, 1), (64, 3), (256, 8)])
@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_mlp_shapes_and_parameter_count(width, depth, parameterization):
    model = MLP(16, 3, width, depth, "softplus", parameterization)
    assert model(torch.randn(5, 16)).shape == (5, 3)
    expected = 16 * width + width + (depth - 1) * (width * width + width) + width * 3 + 3
    assert count(model) == expected


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "softplus"])
def test_mlp_activations_and_flattening(activation):
    model = build_model(MLPSpec(family="mlp", width=32, depth=2, activation=activation), (1, 8, 8), 10)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)


def test_ntk_parameterisation_scales_by_fan_in():
    torch.manual_seed(0)
    model = MLP(4096, 1, 4096, 1, "tanh", "ntk")
    first = model.net[0]
    assert abs(first.weight.std().item() - 1.0) < 0.01          # N(0, 1) weights
    pre = first(torch.randn(64, 4096))
    assert 0.8 < pre.std().item() < 1.2                          # O(1) pre-activations


@pytest.mark.parametrize("depth, expected", [(18, 11_173_962)])
def test_cifar_resnet18_has_the_standard_parameter_count(depth, expected):
    assert count(CifarResNet(64, depth, 10)) == expected


@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("depth", [10, 18, 34])
def test_cifar_resnet_shapes_across_width_and_depth(width, depth):
    model = CifarResNet(width, depth, 10).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    blocks = {10: 4, 18: 8, 34: 16}[depth]
    assert len(model.stages) == blocks
    assert model.fc.in_features == 8 * width
    # conv parameters scale with width²: doubling the width multiplies the count by ~4
    assert 3.5 < count(CifarResNet(2 * width, depth, 10)) / count(model) < 4.1


def test_paper_vae_size_and_outputs():
    model = MLPVAE()   # hidden 50, latent 50, two hidden layers each side: the paper's code
    assert count(model) == 91_984
    recon, mu, logvar = model(torch.rand(3, 1, 28, 28))
    assert recon.shape == (3, 784) and mu.shape == logvar.shape == (3, 50)
    assert 0 <= recon.min() and recon.max() <= 1                 # sigmoid output
    deeper = MLPVAE(width=100, depth=3)
    assert count(deeper) == count(MLPVAE(width=100, depth=1)) + 4 * (100 * 100 + 100)


@pytest.mark.parametrize("width, heads, expected", [(192, 3, 5_717_416), (384, 6, 22_050_664)])
def test_vit_tiny_and_small_have_the_reference_sizes(width, heads, expected):
    assert count(ViT(224, 1000, width, 12, heads, 16)) == expected


def test_the_papers_vit_keeps_a_224px_position_embedding_and_interpolates_it():
    model = ViT(64, 1000, 192, 12, 3, 16, pos_embed_size=224)
    assert count(model) == 5_717_416 and model.pos_embed.shape == (1, 197, 192)   # timm's vit_tiny
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)
    assert model._position(196) is model.pos_embed                      # its own size: as is
    assert model._position(16).shape == (1, 17, 192)                     # 64 px: a 4 × 4 grid
    small = ViT(64, 10, width=48, depth=1, heads=3)
    assert all(abs(p.std().item() - 0.02) < 0.005 for n, p in small.named_parameters()
               if n.endswith(("in_proj_weight", "mlp.0.weight", "head.weight")))   # truncated normal, std 0.02


def test_vit_forward_on_64px_cifar():
    model = ViT(64, 10, width=48, depth=2, heads=3, patch=16)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert model.pos_embed.shape == (1, 17, 48)
    with pytest.raises(ValueError, match="not divisible"):
        ViT(60, 10, patch=16)
