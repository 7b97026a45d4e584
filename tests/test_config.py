"""Config composition: every option of every group composes and instantiates; the schema types train.*."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

import gantrain.app.cli  # noqa: F401  registers the schema and resolvers, as the command does
from gantrain.app.run import resumed_config
from gantrain.losses.base import Objective

CONF = Path(__file__).resolve().parents[1] / "conf"


def _compose(*overrides: str):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_offer_what_the_contract_names() -> None:
    assert {"gan", "dcgan"} <= set(_options("model"))
    assert {"mnist", "lsun", "cifar10", "folder"} <= set(_options("data"))
    assert {"minimax", "non_saturating"} <= set(_options("loss"))
    assert {"adam", "sgd"} <= set(_options("optim"))


def test_defaults() -> None:
    cfg = _compose()
    assert cfg.device == "auto" and cfg.seed == 0
    assert cfg.optim.lr == 2e-4 and cfg.optim.beta1 == 0.5  # DCGAN's Adam
    assert cfg.model.generator._target_.endswith("DCGANGenerator")
    assert (
        cfg.data._target_.endswith("MNIST")
        and cfg.loss._target_.endswith("AdversarialGAN")
        and cfg.loss.criterion._target_.endswith("NonSaturating")
    )
    assert cfg.train.k == 1


@pytest.mark.parametrize("model", [m for m in _options("model") if m not in ("pix2pix", "cyclegan")])  # translators: their own tests
@pytest.mark.parametrize("size", [28, 32])
def test_every_model_instantiates_for_the_data_size(model: str, size: int) -> None:
    from gantrain.core.priors import LatentPrior
    from gantrain.models.base import discriminate, generate, is_conditional
    from gantrain.training.setup import build_networks

    if model in ("progan", "stylegan2") and size == 28:
        size = 16  # both double from 4: 4 x 2^n (28 is refused, tests/test_progan.py and tests/test_stylegan2.py)
    cfg = _compose(f"model={model}", f"data.image_size={size}")
    nets, objective = build_networks(cfg), instantiate(cfg.loss)
    assert set(nets) == set(objective.networks)  # the model builds what its default loss trains
    G, D = nets[objective.generator], nets["encoder" if model == "vae" else "discriminator"]
    prior = LatentPrior(cfg.model.z_dim, cfg.model.z_dist, G.num_classes if is_conditional(G) else None)
    latent = prior.sample(2, device=torch.device("cpu"))
    x = generate(G, latent)
    assert x.shape == (2, 1, size, size)
    if model == "vae":  # the encoder stands in D's place: q(z|x) = N(mu, exp(logvar))
        mu, logvar = D(x)
        assert mu.shape == logvar.shape == (2, cfg.model.z_dim)
        return
    out = discriminate(D, x, latent.y)
    k = getattr(D, "num_classes", None)
    assert out.shape == ((2,) if k is None else (2, k + int(D.fake_class)))


@pytest.mark.parametrize(
    "model, loss",
    [
        ("gan", "AdversarialGAN"),
        ("cgan", "AdversarialGAN"),
        ("sgan", "FeatureMatching"),
        ("catgan", "CatGAN"),
        ("pix2pix", "L1ConditionalGAN"),
        ("vae", "ELBO"),
    ],
)
def test_each_model_brings_its_loss_and_the_command_line_can_change_it(model: str, loss: str) -> None:
    assert _compose(f"model={model}").loss._target_.endswith(loss)
    assert _compose(f"model={model}", "loss=minimax").loss.criterion._target_.endswith("criteria.Minimax")


@pytest.mark.parametrize("loss", _options("loss"))
def test_every_loss_instantiates(loss: str) -> None:
    assert isinstance(instantiate(_compose(f"loss={loss}").loss), Objective)


@pytest.mark.parametrize("optim", _options("optim"))
def test_every_optimiser_instantiates(optim: str) -> None:
    make = instantiate(_compose(f"optim={optim}").optim)
    opt = make(torch.nn.Linear(2, 2).parameters())
    assert isinstance(opt, torch.optim.Optimizer) and opt.param_groups[0]["lr"] > 0


@pytest.mark.parametrize("data", _options("data"))
def test_every_data_option_composes_with_its_documented_keys(data: str) -> None:
    cfg = _compose(f"data={data}")
    assert {"_target_", "root", "image_size", "channels"} <= set(cfg.data)


def test_the_issue_recipes_compose() -> None:
    cfg = _compose("model=gan", "data=mnist", "loss=minimax", "train.k=5", "optim.lr=1e-4", "device=cpu", "seed=3")
    assert (cfg.train.k, cfg.optim.lr, cfg.device, cfg.seed) == (5, 1e-4, "cpu", 3)
    cfg = _compose("model=dcgan", "data=lsun", "data.root=/data/lsun")
    assert cfg.data.image_size == 64 and cfg.model.generator.image_size == 64
    cfg = _compose("model=dcgan", "data=folder", "data.root=/home/me/celeba", "data.image_size=64")
    assert cfg.model.discriminator.image_size == 64
    assert _compose("optim=sgd").optim.momentum == 0.5


def test_schema_rejects_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ConfigCompositionException):
        _compose("train.kk=3")
    with pytest.raises(ConfigCompositionException):
        _compose("train.k=abc")
    with pytest.raises(ConfigCompositionException):
        _compose("model.generator.widht=3")


def test_resume_keeps_the_stored_config_and_applies_plain_overrides() -> None:
    stored = _compose("model=gan", "train.steps=100")
    resumed = resumed_config(
        stored, {"model": "gan", "data": "mnist"}, ["train.resume=x", "train.steps=200"], {"model": "dcgan", "data": "mnist"}
    )
    assert resumed.train.steps == 200 and resumed.model.generator._target_.endswith("MLPGenerator")
    from gantrain.core.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot change model when resuming"):
        resumed_config(stored, {"model": "gan"}, ["model=dcgan"], {"model": "dcgan"})


def test_mnist_dcgan_specialisation_applies_only_to_that_pair_and_yields_to_overrides() -> None:
    assert _compose().model.generator.width == 32  # the default run: dcgan on mnist
    assert _compose("data=lsun").model.generator.width == 64  # the paper's width elsewhere
    assert _compose("model.generator.width=64").model.generator.width == 64  # the command line wins
    assert _compose("train.steps=10").train.steps == 10


def test_pix2pix_brings_paired_data_and_follows_loss_conditional() -> None:
    cfg = _compose("model=pix2pix")
    assert cfg.data._target_.endswith("Edges2X") and cfg.train.batch_size == 16  # the built-in task's settings
    assert cfg.model.discriminator.conditional is True and cfg.model.discriminator.patch_size == 70
    assert _compose("model=pix2pix", "loss.conditional=false").model.discriminator.conditional is False
    facades = _compose("model=pix2pix", "data=paired", "data.root=/x")
    assert facades.train.batch_size == 1 and facades.data.image_size == 256 and facades.data.load_size == 286


def test_catgan_hidden_noise_defaults_to_one_without_labels_and_zero_with() -> None:
    from gantrain.core.resolvers import if_unlabelled

    def noise(*overrides: str) -> float:
        return _compose("model=catgan", *overrides).model.discriminator.hidden_noise

    assert noise("data.labeled_per_class=0") == 1.0
    assert noise("data.labeled_per_class=10") == 0.0
    assert noise() == 0.0  # every label (labeled_per_class=null)
    assert noise("data.labeled_per_class=0", "model.discriminator.hidden_noise=0.3") == 0.3  # the command line wins
    D = instantiate(_compose("model=catgan", "data.labeled_per_class=0").model.discriminator)
    assert [m.sd for m in D.modules() if type(m).__name__ == "GaussianNoise"][1:] == [1.0, 1.0]  # after the two pools
    assert if_unlabelled(False, "a", "b") == "b"  # a stray boolean is not 0


def test_catgan_loss_defaults_differ_without_labels_only() -> None:
    def loss(*overrides: str) -> tuple:
        cfg = _compose("model=catgan", *overrides).loss
        return cfg.lambda_marginal, cfg.marginal, cfg.lambda_consistency

    assert loss("data.labeled_per_class=0") == (4.0, "uniform_kl", 5.0)
    assert loss("data.labeled_per_class=10") == (1.0, "entropy", 0.0)  # the paper's CatGAN
    assert loss() == (1.0, "entropy", 0.0)  # every label
    assert loss("data.labeled_per_class=0", "loss.marginal=entropy", "loss.lambda_consistency=0") == (4.0, "entropy", 0.0)
    objective = instantiate(_compose("model=catgan", "data.labeled_per_class=0").loss)
    assert (objective.lambda_marginal, objective.marginal, objective.lambda_consistency) == (4.0, "uniform_kl", 5.0)


def test_sgan_on_mnist_takes_salimans_et_al_s_settings_and_the_command_line_still_wins() -> None:
    cfg = _compose("model=sgan", "data=mnist")
    assert (cfg.loss.unsupervised_weight, cfg.model.generator.activation, cfg.optim.lr, cfg.optim.eps) == (0.5, "softplus", 3e-3, 1e-4)
    assert _compose("model=sgan", "data=mnist", "optim=adam").optim.eps == 1e-8  # PyTorch's, when asked for
    assert _compose("model=gan").optim.eps == 1e-8  # the other models keep plain Adam
    assert _compose("model=sgan", "data=mnist", "loss=non_saturating").loss.unsupervised_weight == 0.5
    assert _compose("model=sgan", "data=mnist", "loss.unsupervised_weight=1.0").loss.unsupervised_weight == 1.0
    other = _compose("model=sgan", "data=cifar10")  # no model_data file: the loss's and model's own defaults
    assert (other.loss.unsupervised_weight, other.model.generator.activation) == (1.0, "relu")
    make = instantiate(_compose("model=sgan", "data=mnist", "optim=sgd").optim)  # every optimiser still fits
    assert isinstance(make(torch.nn.Linear(2, 2).parameters()), torch.optim.SGD)
    assert instantiate(_compose("model=sgan", "data=mnist").loss).reduction == "sum"
    assert instantiate(_compose("model=sgan", "data=mnist", "loss.reduction=mean").loss).reduction == "mean"
    assert not instantiate(_compose("model=sgan", "data=mnist").loss).fresh_batch
    assert instantiate(_compose("model=sgan", "data=mnist", "loss.fresh_batch=true").loss).fresh_batch
    theirs = _compose("model=sgan", "data=mnist")  # Salimans et al.'s parametrisation of G and D on MNIST,
    their_g, their_d = instantiate(theirs.model.generator), instantiate(theirs.model.discriminator)  # every part reaching the nets
    assert abs(their_d.features[2].v.std().item() - 0.1) < 0.005  # the first weight-normalised layer's v
    assert [type(m).__name__ for m in their_g.net][-3:] == ["Softplus", "WeightNormLinear", "Tanh"]
    assert type(their_g.net[1]).__name__ == "ShiftBatchNorm1d" and their_g.net[0].bias.abs().sum() == 0
    ours = _compose(  # the earlier defaults stay one override each
        "model=sgan",
        "data=mnist",
        "model.generator.init=pytorch",
        "model.generator.batch_norm_scale=true",
        "model.generator.output_weight_norm=false",
        "model.discriminator.init_sd=0.05",
    )
    our_g, our_d = instantiate(ours.model.generator), instantiate(ours.model.discriminator)
    assert abs(our_d.features[2].v.std().item() - 0.05) < 0.003
    assert [type(m).__name__ for m in our_g.net][-2:] == ["Linear", "Tanh"]
    assert type(our_g.net[1]).__name__ == "BatchNorm1d" and our_g.net[0].bias.abs().sum() > 0
    assert (other.model.generator.init, other.model.discriminator.init_sd) == ("pytorch", 0.05)  # not MNIST: PyTorch's
