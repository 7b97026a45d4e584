"""CycleGAN (Zhu et al. 2017)'s networks and the image history of Shrivastava et al. (2017): the ResNet
generator's shapes, depth and padding, the one-image PatchGAN, the errors for bad values, and the
pool's sampling and its exact resume through state_dict()."""

from pathlib import Path

import pytest
import torch
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.losses.image_pool import ImagePool
from gantrain.models.cyclegan import PatchDiscriminator, ResidualBlock, ResNetGenerator
from gantrain.models.pix2pix import PatchGANDiscriminator

# --- the generator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size, width", [(32, 4), (64, 4), (256, 4)])
def test_generator_keeps_the_shape_and_stays_in_tanh_range(size: int, width: int) -> None:
    torch.manual_seed(0)
    G = ResNetGenerator(image_size=size, in_channels=1, out_channels=3, width=width)
    with torch.no_grad():
        y = G(torch.rand(2, 1, size, size) * 2 - 1)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1 and isinstance(G.head[-1], nn.Tanh)
    with torch.no_grad():  # inputs far outside [-1, 1] still come out in it
        assert G(torch.randn(1, 1, size, size) * 100).abs().max() <= 1


def test_generator_depth_follows_the_paper_below_and_from_256() -> None:
    assert ResNetGenerator(image_size=128, width=1).blocks == 6
    assert ResNetGenerator(image_size=256, width=1).blocks == 9
    assert len(ResNetGenerator(image_size=256, width=1).residual) == 9
    G = ResNetGenerator(image_size=32, width=1, blocks=0)
    assert G.blocks == 0 and len(G.residual) == 0
    assert G.describe() == "ResNet generator, 0 residual blocks, 32x32, instance norm"
    assert ResNetGenerator(image_size=32, width=1).describe().startswith("ResNet generator, 6 residual blocks, 32x32")
    assert "1 residual block," in ResNetGenerator(image_size=32, width=1, blocks=1).describe()


def test_generator_pads_by_reflection_and_its_blocks_are_residual() -> None:
    G = ResNetGenerator(image_size=32, width=2, blocks=3)
    # the two 7x7 convolutions and two in each residual block
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in G.modules()) == 2 + 2 * 3
    for m in G.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (1, 1):
            assert m.padding == (0, 0)  # no zero padding where reflection pads
    block = G.residual[0]
    assert isinstance(block, ResidualBlock)
    for conv in (m for m in block.modules() if isinstance(m, nn.Conv2d)):
        nn.init.zeros_(conv.weight)
    x = torch.randn(1, 8, 8, 8)
    assert torch.equal(block(x), x)  # F(x) = 0: the block is the identity


def test_generator_norms_and_initialisation() -> None:
    torch.manual_seed(0)
    G = ResNetGenerator(image_size=32, width=8, blocks=1)
    norms = [m for m in G.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)
    assert not any("running" in k for k in G.state_dict())  # instance norm keeps no statistics
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
    batch = ResNetGenerator(image_size=32, width=2, blocks=1, norm="batch", dropout=0.5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in batch.modules())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in batch.residual.modules())
    assert not any(isinstance(m, nn.Dropout) for m in G.modules())  # the paper's default: no dropout


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(image_size=30),
            "model.generator.image_size=30: the ResNet generator halves the image twice, so it must be a multiple "
            "of 4 (e.g. 32, 128, 256); set data.image_size",
        ),
        (dict(image_size=4), "model.generator.image_size=4: the ResNet generator's residual blocks work at a quarter"),
        (dict(image_size=32, width=0), "model.generator.width=0 must be a whole number of at least 1; the paper's is 64"),
        (dict(image_size=32, blocks=-1), "model.generator.blocks=-1 must be a whole number of at least 0"),
        (
            dict(image_size=32, norm="group"),
            "model.generator.norm='group' is not a normalisation gantrain builds; set it to one of batch, instance, layer, none",
        ),
        (dict(image_size=32, dropout=1.0), "model.generator.dropout=1.0 must be a probability in [0, 1)"),
        (dict(image_size=32, dropout=-0.1), "model.generator.dropout=-0.1 must be a probability in [0, 1)"),
        (dict(image_size=32, width=0, name="model.generator_ab"), "model.generator_ab.width=0 must be"),
    ],
)
def test_generator_bad_values_name_the_key_and_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        ResNetGenerator(**kwargs)
    text = str(error.value)
    assert text.startswith(message) and "\n" not in text


# --- the discriminator -----------------------------------------------------------------------------


def test_patch_discriminator_grid_at_256_and_32() -> None:
    D = PatchDiscriminator(image_size=256, channels=3, width=2)
    assert D(torch.zeros(1, 3, 256, 256)).shape == (1, 30, 30) and D.output_size == 30
    assert D.describe() == "PatchGAN 70x70 receptive field, 30x30 real/fake decisions per image, instance norm"
    assert D.net[0].in_channels == 3  # one image, no source
    small = PatchDiscriminator(image_size=32, channels=1, patch_size=16, width=2)
    assert small(torch.randn(2, 1, 32, 32)).shape == (2, small.output_size, small.output_size)
    norms = [m for m in D.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 and all(not m.affine and not m.track_running_stats for m in norms)


def test_patch_discriminator_is_pix2pix_stack_with_another_norm() -> None:
    """With batch norm it is Pix2Pix's unconditional PatchGAN, weight for weight."""
    for patch_size in (1, 70):
        torch.manual_seed(0)
        ours = PatchDiscriminator(image_size=64, channels=3, patch_size=patch_size, width=2, norm="batch")
        torch.manual_seed(0)
        theirs = PatchGANDiscriminator(image_size=64, out_channels=3, patch_size=patch_size, width=2, conditional=False)
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_patch_discriminator_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"model.patch_size=50 is not a receptive field .* choose one of 1, 16, 34, 70"):
        PatchDiscriminator(image_size=256, patch_size=50)
    with pytest.raises(ConfigError, match=r"choose one of 1, 16, 34, 70$"):
        PatchDiscriminator(image_size=32, patch_size=142)
    with pytest.raises(ConfigError, match=r"^model.discriminator_a.width=0 must be a whole number of at least 1"):
        PatchDiscriminator(image_size=32, width=0, name="model.discriminator_a")
    with pytest.raises(ConfigError, match=r"^model.discriminator.norm='group' is not a normalisation"):
        PatchDiscriminator(image_size=32, norm="group")


# --- the image pool --------------------------------------------------------------------------------


def numbered(first: int, n: int = 1) -> torch.Tensor:
    """n images (n, 1, 2, 2), image i filled with the number first + i: the pool's output is traceable."""
    return torch.arange(first, first + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def labels(images: torch.Tensor) -> list[int]:
    return [int(v) for v in images[:, 0, 0, 0]]


def test_pool_passes_images_through_while_filling_and_returns_only_what_it_saw() -> None:
    pool = ImagePool(size=4, seed=1)
    x = numbered(0, 3).requires_grad_()
    out = pool.query(x)
    assert torch.equal(out, x) and not out.requires_grad and len(pool) == 3
    assert labels(pool.query(numbered(3, 1))) == [3] and len(pool) == 4  # the fourth fills it
    seen, swapped = set(range(4)), 0
    for step in range(4, 200):
        batch = numbered(2 * step, 2)
        seen |= set(labels(batch))
        got = labels(pool.query(batch))
        assert set(got) <= seen
        swapped += sum(g != n for g, n in zip(got, labels(batch)))
    assert len(pool) == 4 and 0 < swapped < 2 * 196


def test_pool_of_size_zero_is_a_pass_through() -> None:
    pool = ImagePool(size=0)
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    out = pool.query(x)
    assert torch.equal(out, x) and not out.requires_grad and len(pool) == 0
    assert pool.state_dict()["count"] == 0


def test_pool_swaps_about_half_the_images_once_full() -> None:
    pool = ImagePool(size=10, seed=0)
    pool.query(numbered(0, 10))
    n = 2000
    swapped = sum(labels(pool.query(numbered(k, 1))) != [k] for k in range(10, 10 + n))
    assert 0.45 < swapped / n < 0.55
    # and the slot is drawn uniformly: every stored image is eventually replaced
    assert min(labels(pool._images)) >= 10


def test_pool_bad_size_names_the_key() -> None:
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match=r"^loss.pool_size=.* must be a whole number >= 0"):
            ImagePool(size=bad)


def test_pool_resumes_exactly_through_its_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    stream = [torch.randn(2, 3, 4, 4) for _ in range(30)]
    uninterrupted = ImagePool(size=5, seed=7)
    saved = ImagePool(size=5, seed=7)
    for x in stream[:12]:
        assert torch.equal(uninterrupted.query(x), saved.query(x))
    state = saved.state_dict()
    torch.save(state, tmp_path / "pool.pt")
    for _ in range(8):  # the state is a copy: the pool's later swaps leave it as it was
        saved.query(torch.zeros(2, 3, 4, 4))
    in_memory = ImagePool(size=5, seed=123)  # a different seed: the state must overwrite it
    in_memory.load_state_dict(state)
    from_file = ImagePool(size=5, seed=123)
    from_file.load_state_dict(torch.load(tmp_path / "pool.pt", weights_only=True))
    for x in stream[12:]:
        expected = uninterrupted.query(x)
        assert torch.equal(in_memory.query(x), expected) and torch.equal(from_file.query(x), expected)
    with pytest.raises(ConfigError, match=r"^loss.pool_size=4 but the checkpoint's image pool has size 5"):
        ImagePool(size=4).load_state_dict(uninterrupted.state_dict())


def test_pool_state_of_an_empty_pool_round_trips(tmp_path: Path) -> None:
    torch.save(ImagePool(size=3, seed=2).state_dict(), tmp_path / "empty.pt")
    pool = ImagePool(size=3, seed=9)
    pool.load_state_dict(torch.load(tmp_path / "empty.pt", weights_only=True))
    fresh = ImagePool(size=3, seed=2)
    for k in range(0, 40, 2):
        assert torch.equal(pool.query(numbered(k, 2)), fresh.query(numbered(k, 2)))
