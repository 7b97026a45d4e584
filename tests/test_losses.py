"""The GAN losses against hand-computed values, and the saturation that tells minimax from non-saturating."""

import math

import pytest
import torch
from torch import nn

from gantrain.core.errors import ConfigError
from gantrain.core.priors import Latent
from gantrain.losses.adversarial import AdversarialGAN
from gantrain.losses.base import Batch
from gantrain.losses.catgan import CatGAN
from gantrain.losses.criteria import Minimax
from gantrain.losses.functional import (
    class_logits,
    conditional_entropy,
    discriminator_loss,
    feature_matching_loss,
    marginal_entropy,
    minimax_generator_loss,
    non_saturating_generator_loss,
    real_fake_logit,
    supervised_loss,
)
from gantrain.models.base import Network

# logits chosen so that D(x) = sigmoid(l) is 1/2, 3/4 on real and 1/2, 1/4 on fake
REAL = torch.tensor([0.0, math.log(3.0)])
FAKE = torch.tensor([0.0, -math.log(3.0)])


def test_discriminator_loss_by_hand() -> None:
    # -[mean log D(x) + mean log(1 - D(G(z)))] = -[(ln 1/2 + ln 3/4)/2 + (ln 1/2 + ln 3/4)/2]
    expected = -(math.log(0.5) + math.log(0.75))
    assert discriminator_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.980829, rel=1e-5)


def test_minimax_generator_loss_by_hand() -> None:
    # mean log(1 - D(G(z))) = (ln(1 - 1/2) + ln(1 - 1/4)) / 2
    expected = (math.log(0.5) + math.log(0.75)) / 2
    assert minimax_generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_non_saturating_generator_loss_by_hand() -> None:
    # -mean log D(G(z)) = -(ln 1/2 + ln 1/4) / 2
    expected = -(math.log(0.5) + math.log(0.25)) / 2
    assert non_saturating_generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_minimax_gradient_vanishes_where_d_rejects_fakes_but_non_saturating_does_not() -> None:
    # D(G(z)) = sigmoid(-12) ~ 6e-6: D confidently rejects the fakes, as early in training
    logit = torch.tensor([-12.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logit), logit)
    (g_non_sat,) = torch.autograd.grad(non_saturating_generator_loss(logit), logit)
    assert abs(g_minimax.item()) < 1e-5  # -sigmoid(l): vanishes
    assert abs(g_non_sat.item()) > 0.999  # -(1 - sigmoid(l)): full strength
    # and where D is fooled (D(G(z)) -> 1) the roles swap
    logit = torch.tensor([12.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logit), logit)
    (g_non_sat,) = torch.autograd.grad(non_saturating_generator_loss(logit), logit)
    assert abs(g_minimax.item()) > 0.999 and abs(g_non_sat.item()) < 1e-5


def test_losses_stay_finite_for_extreme_logits() -> None:
    huge = torch.tensor([1e4, -1e4])
    for value in (discriminator_loss(huge, huge), minimax_generator_loss(huge), non_saturating_generator_loss(huge)):
        assert torch.isfinite(value)


class _ConstantD(Network):
    """A 'discriminator' that outputs a fixed logit per image: its mean pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(1)


class _ShiftG(Network):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(len(z), 1, 1, 1)


@pytest.mark.parametrize(
    "objective, g_loss", [(AdversarialGAN(Minimax()), minimax_generator_loss), (AdversarialGAN(), non_saturating_generator_loss)]
)
def test_objectives_run_g_and_d_and_report_hierarchical_names(objective, g_loss) -> None:
    G, D = _ShiftG(), _ConstantD()
    batch = Batch(x=REAL.view(2, 1, 1, 1))
    z = Latent(FAKE.view(2, 1))
    d_terms = objective.discriminator_step(G, D, batch, z)
    assert d_terms.loss.item() == pytest.approx(discriminator_loss(REAL, FAKE).item())
    assert set(d_terms.logs) == {"loss/d", "d/real", "d/fake"}
    assert d_terms.logs["d/real"].item() == pytest.approx((0.5 + 0.75) / 2)
    assert d_terms.logs["d/fake"].item() == pytest.approx((0.5 + 0.25) / 2)
    g_terms = objective.generator_step(G, D, batch, z)
    assert g_terms.loss.item() == pytest.approx(g_loss(FAKE).item())
    assert set(g_terms.logs) == {"loss/g"}


# ---- the semi-supervised and categorical objectives --------------------------------------------


def test_real_fake_logit_from_class_logits_by_hand() -> None:
    # Salimans et al.: D(x) = Z / (Z + 1), Z = e^0 + e^ln3 = 4, so D(x) = 4/5 and the logit is ln 4
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert real_fake_logit(logits).item() == pytest.approx(math.log(4.0))
    assert torch.sigmoid(real_fake_logit(logits)).item() == pytest.approx(0.8)
    # Odena: a learned fake logit ln 2: D(x) = 4 / (4 + 2) = 2/3
    with_fake = torch.tensor([[0.0, math.log(3.0), math.log(2.0)]])
    assert torch.sigmoid(real_fake_logit(with_fake, fake_class=True)).item() == pytest.approx(2 / 3)
    assert torch.equal(class_logits(with_fake, fake_class=True), logits)
    assert torch.equal(real_fake_logit(REAL), REAL)  # a binary D's output is the logit already


def test_conditional_and_marginal_entropy_by_hand() -> None:
    certain_a = torch.tensor([[20.0, -20.0]])  # p ~ (1, 0)
    certain_b = torch.tensor([[-20.0, 20.0]])  # p ~ (0, 1)
    unsure = torch.tensor([[0.0, 0.0]])  # p = (1/2, 1/2)
    both = torch.cat([certain_a, certain_b])
    assert conditional_entropy(both).item() == pytest.approx(0.0, abs=1e-6)  # each sample is certain
    assert marginal_entropy(both).item() == pytest.approx(math.log(2))  # the batch uses both classes
    assert conditional_entropy(unsure).item() == pytest.approx(math.log(2))
    assert marginal_entropy(torch.cat([certain_a, certain_a])).item() == pytest.approx(0.0, abs=1e-6)  # one class
    # p = (3/4, 1/4): H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    skewed = torch.tensor([[math.log(3.0), 0.0]])
    assert conditional_entropy(skewed).item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_feature_matching_loss_by_hand() -> None:
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.0 + 4.0)
    assert feature_matching_loss(real, fake, "mean").item() == pytest.approx((1.0 + 4.0) / 2)  # their code's T.mean


def test_feature_matching_names_a_bad_reduction() -> None:
    from gantrain.core.errors import ConfigError
    from gantrain.losses.feature_matching import FeatureMatching

    with pytest.raises(ConfigError, match=r"loss.reduction must be one of sum, mean \(got 'max'\)"):
        FeatureMatching(reduction="max")
    with pytest.raises(ConfigError, match=r"loss.fresh_batch must be true or false \(got 'yes'\)"):
        FeatureMatching(fresh_batch="yes")


def test_supervised_loss_by_hand_and_with_no_labelled_items() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = (1/4, 3/4)
    assert supervised_loss(logits, torch.tensor([1])).item() == pytest.approx(-math.log(0.75))
    empty = supervised_loss(torch.zeros(0, 10, requires_grad=True), torch.zeros(0, dtype=torch.long))
    assert empty.item() == 0.0 and not torch.isnan(empty)
    empty.backward()  # and it still backpropagates


class _ClassifierD(Network):
    """Class logits that are fixed functions of the input's first pixel."""

    num_classes, fake_class = 2, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.flatten(1)[:, :1]
        return torch.cat([v, -v], dim=1)


def test_semi_supervised_d_loss_is_cross_entropy_plus_real_fake_loss() -> None:
    D, G = _ClassifierD(), _ShiftG()
    x = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    batch = Batch(x=x, x_lab=x[:1], y_lab=torch.tensor([0]))
    latent = Latent(torch.tensor([[0.5], [2.0]]))
    terms = AdversarialGAN().discriminator_step(G, D, batch, latent)
    out_real, out_fake = D(x), D(G(latent.z))
    expected_unsup = discriminator_loss(real_fake_logit(out_real), real_fake_logit(out_fake))
    expected_sup = supervised_loss(D(x[:1]), torch.tensor([0]))
    assert terms.loss.item() == pytest.approx((expected_unsup + expected_sup).item())
    assert terms.logs["loss/d_supervised"].item() == pytest.approx(expected_sup.item())
    # a batch without labelled images: the unsupervised part alone, and no NaN
    none = AdversarialGAN().discriminator_step(G, D, Batch(x=x, x_lab=x[:0], y_lab=torch.zeros(0, dtype=torch.long)), latent)
    assert none.loss.item() == pytest.approx(expected_unsup.item())
    # lambda weighs the unsupervised term (Salimans et al.'s code uses 1/2)
    half = AdversarialGAN(unsupervised_weight=0.5).discriminator_step(G, D, batch, latent)
    assert half.loss.item() == pytest.approx((0.5 * expected_unsup + expected_sup).item())
    with pytest.raises(ConfigError, match="unsupervised_weight"):
        AdversarialGAN(unsupervised_weight=-1.0)


def test_catgan_losses_by_hand() -> None:
    D, G = _ClassifierD(), _ShiftG()
    x = torch.tensor([20.0, -20.0]).view(2, 1, 1, 1)  # certain, of two different classes
    latent = Latent(torch.tensor([[0.0], [0.0]]))  # fakes: p = (1/2, 1/2), maximally unsure
    d = CatGAN().discriminator_step(G, D, Batch(x=x), latent)
    # L_D = -H_marginal(real) + H_cond(real) - H_cond(fake) = -ln2 + 0 - ln2
    assert d.loss.item() == pytest.approx(-2 * math.log(2), abs=1e-6)
    g = CatGAN().generator_step(G, D, Batch(x=x), latent)
    # L_G = H_cond(fake) - H_marginal(fake) = ln2 - ln2
    assert g.loss.item() == pytest.approx(0.0, abs=1e-6)
    labelled = CatGAN(lambda_ce=2.0).discriminator_step(G, D, Batch(x=x, x_lab=x, y_lab=torch.tensor([1, 1])), latent)
    ce = supervised_loss(D(x), torch.tensor([1, 1]))
    assert labelled.loss.item() == pytest.approx(-2 * math.log(2) + 2.0 * ce.item(), rel=1e-5)
    # lambda_marginal weighs the marginal entropies: L_D = -3 ln2 + 0 - ln2, L_G = ln2 - 3 ln2
    weighted = CatGAN(lambda_marginal=3.0)
    assert weighted.discriminator_step(G, D, Batch(x=x), latent).loss.item() == pytest.approx(-4 * math.log(2), abs=1e-6)
    assert weighted.generator_step(G, D, Batch(x=x), latent).loss.item() == pytest.approx(-2 * math.log(2), abs=1e-6)
    with pytest.raises(ConfigError, match="lambda_marginal"):
        CatGAN(lambda_marginal=-1.0)


def test_uniform_divergence_by_hand_and_its_gradient_on_an_unused_class() -> None:
    from gantrain.losses.functional import uniform_divergence

    both = torch.tensor([[20.0, -20.0], [-20.0, 20.0]])  # the batch uses the two classes equally
    assert uniform_divergence(both).item() == pytest.approx(0.0, abs=1e-6)
    skewed = torch.log(torch.tensor([[0.75, 0.25], [0.75, 0.25]]))  # p_mean = (3/4, 1/4)
    # KL(u || p_mean) = 1/2 ln(1/2 / 3/4) + 1/2 ln(1/2 / 1/4) = 1/2 ln(4/3)
    assert uniform_divergence(skewed).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-5)
    # class 2 of 3 almost unused: the entropy's gradient on its logits has nearly vanished, KL(u || p)'s is about -1/K
    logits = torch.tensor([[5.0, 0.0, -15.0], [0.0, 5.0, -15.0], [2.0, 1.0, -15.0], [1.0, 2.0, -15.0]], requires_grad=True)
    (-marginal_entropy(logits)).backward()
    assert abs(logits.grad[:, 2].sum().item()) < 1e-5
    logits.grad = None
    uniform_divergence(logits).backward()
    assert logits.grad[:, 2].sum().item() == pytest.approx(-1 / 3, rel=1e-3)


def test_catgan_uniform_kl_marginal_replaces_the_entropy_term() -> None:
    from gantrain.losses.functional import uniform_divergence

    D, G = _ClassifierD(), _ShiftG()
    x = torch.tensor([20.0, 20.0]).view(2, 1, 1, 1)  # both certain of the same class: p_mean far from uniform
    latent = Latent(torch.tensor([[0.0], [0.0]]))  # fakes: p = (1/2, 1/2)
    kl = CatGAN(marginal="uniform_kl", lambda_marginal=2.0)
    # L_D = 2 KL(u || p_mean(real)) + H_cond(real) - H_cond(fake) = 2 KL + 0 - ln2
    expected = 2 * uniform_divergence(D(x)).item() - math.log(2)
    assert kl.discriminator_step(G, D, Batch(x=x), latent).loss.item() == pytest.approx(expected, rel=1e-5)
    # L_G = H_cond(fake) + 2 KL(u || p_mean(fake)) = ln2 + 0
    assert kl.generator_step(G, D, Batch(x=x), latent).loss.item() == pytest.approx(math.log(2), abs=1e-6)
    with pytest.raises(ConfigError, match="loss.marginal must be one of entropy, uniform_kl"):
        CatGAN(marginal="kl")


def test_random_shift_moves_each_image_by_whole_pixels_and_repeats_the_border() -> None:
    from gantrain.losses.functional import random_shift

    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float).view(2, 3, 5, 5)
    moved = random_shift(x, 1, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    for b in range(2):
        # each image is one 5x5 window of its own border-repeated image, the same for every channel
        windows = [(dy, dx) for dy in range(3) for dx in range(3) if torch.equal(moved[b], padded[b, :, dy : dy + 5, dx : dx + 5])]
        assert len(windows) == 1
    # over many images every offset in -1..1 x -1..1 occurs, so the shift is not a constant
    many = random_shift(torch.zeros(400, 1, 3, 3).index_fill_(2, torch.tensor([1]), 1.0), 1, torch.Generator().manual_seed(1))
    rows = {int(row) for row in many[:, 0, :, 0].argmax(dim=1)}  # where the middle row of ones went
    assert rows == {0, 1, 2}
    assert random_shift(x, 0) is x


def test_consistency_divergence_by_hand_and_its_gradient_reaches_only_the_moved_logits() -> None:
    from gantrain.losses.functional import consistency_divergence

    p_logits = torch.log(torch.tensor([[0.5, 0.5], [0.75, 0.25]])).requires_grad_()
    q_logits = torch.log(torch.tensor([[0.25, 0.75], [0.75, 0.25]])).requires_grad_()
    # row 1: KL((1/2, 1/2) || (1/4, 3/4)) = 1/2 ln 2 + 1/2 ln(2/3); row 2: 0
    expected = (0.5 * math.log(2) + 0.5 * math.log(2 / 3)) / 2
    value = consistency_divergence(p_logits, q_logits)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert p_logits.grad is None  # p(y|x) is the target, held fixed
    # d/dq_logits of KL(p || softmax(q)) = softmax(q) - p, per row, over the batch of 2
    assert torch.allclose(q_logits.grad, torch.tensor([[-0.25, 0.25], [0.0, 0.0]]) / 2, atol=1e-6)


def test_catgan_consistency_adds_the_shift_term_to_l_d_only() -> None:
    D, G = _ClassifierD(), _ShiftG()
    x = torch.tensor([20.0, -20.0]).view(2, 1, 1, 1)
    latent = Latent(torch.tensor([[0.0], [0.0]]))
    plain = CatGAN().discriminator_step(G, D, Batch(x=x), latent).loss.item()
    # 1x1 images: a shift repeats the one pixel, so D's prediction cannot change and the term is 0
    same = CatGAN(lambda_consistency=5.0, max_shift=2).discriminator_step(G, D, Batch(x=x), latent)
    assert same.loss.item() == pytest.approx(plain, abs=1e-6)
    assert same.logs["catgan/consistency"].item() == pytest.approx(0.0, abs=1e-6)

    class MeanD(Network):  # K=2 logits from the left column's mean: a shift sideways changes them
        num_classes = 2

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            left = 10 * x[:, 0, :, 0].mean(dim=1)
            return torch.stack([left, -left], dim=1)

    class ImageG(Network):  # z (B, 16) -> a 4x4 image
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z.view(len(z), 1, 4, 4)

    torch.manual_seed(0)
    x = torch.zeros(64, 1, 4, 4)
    x[:, :, :, 0] = 1.0  # a bright left column
    latent4 = Latent(torch.zeros(64, 16))
    terms = CatGAN(lambda_consistency=2.0, max_shift=1).discriminator_step(ImageG(), MeanD(), Batch(x=x), latent4)
    base = CatGAN().discriminator_step(ImageG(), MeanD(), Batch(x=x), latent4)
    assert terms.logs["catgan/consistency"].item() > 0.1  # the images moved right lost their bright column
    assert terms.loss.item() == pytest.approx(base.loss.item() + 2.0 * terms.logs["catgan/consistency"].item(), rel=1e-5)
    # G's loss has no such term
    assert CatGAN(lambda_consistency=2.0).generator_step(G, D, Batch(x=x), latent).loss.item() == pytest.approx(
        CatGAN().generator_step(G, D, Batch(x=x), latent).loss.item()
    )
    with pytest.raises(ConfigError, match="max_shift"):
        CatGAN(max_shift=-1)


def test_feature_matching_objective_reads_the_named_layer() -> None:
    from gantrain.core.errors import ConfigError
    from gantrain.losses.feature_matching import FeatureMatching
    from gantrain.models.gan import MLPDiscriminator, MLPGenerator

    torch.manual_seed(0)
    G = MLPGenerator(z_dim=4, image_size=4, channels=1, hidden=[8])
    D = MLPDiscriminator(image_size=4, channels=1, hidden=[6], pieces=2, dropout=0.0).eval()
    batch, latent = Batch(x=torch.rand(5, 1, 4, 4) * 2 - 1), Latent(torch.randn(5, 4))
    loss = FeatureMatching("features").generator_step(G, D, batch, latent).loss
    expected = feature_matching_loss(D.features(batch.x.flatten(1)), D.features(G(latent.z).flatten(1)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    FeatureMatching("features").check_pair(G, D, None)
    with pytest.raises(ConfigError, match="loss.layer='trunk' is not a layer"):
        FeatureMatching("trunk").check_pair(G, D, None)


def test_run_d_each_concatenates_only_for_a_samplewise_discriminator() -> None:
    from gantrain.models.base import samplewise

    discriminate_each = AdversarialGAN().run_D_each

    calls: list[int] = []
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))
    with_bn = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))
    for D in (mlp, with_bn):
        D.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    xs = [torch.randn(4, 3, 2, 2), torch.randn(2, 3, 2, 2), torch.randn(3, 3, 2, 2)]
    assert samplewise(mlp) and not samplewise(with_bn)

    outs = discriminate_each(mlp, [(x, None, True) for x in xs])
    assert calls == [9]  # one call on the 4 + 2 + 3 images
    for x, out in zip(xs, outs):
        assert torch.allclose(out, mlp(x), atol=1e-6)  # the same numbers as a call each

    calls.clear()
    outs = discriminate_each(with_bn, [(x, None, True) for x in xs])
    assert calls == [4, 2, 3]  # batch norm: real and fake batches normalised apart, as before
    assert [o.shape for o in outs] == [(4, 3), (2, 3), (3, 3)]


class _BatchNormClassifier(Network):
    """A 3-class D with batch norm and a `features` layer: every objective's D steps can train it."""

    num_classes, fake_class = 3, False

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.BatchNorm1d(6), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.mark.parametrize("objective", ["non_saturating", "feature_matching", "catgan"])
def test_only_real_batches_update_the_discriminators_batch_norm_statistics(objective: str) -> None:
    # D.eval() classifies with batch norm's running statistics (the test error of SGAN and CatGAN):
    # D and G steps on generated batches must leave them to the real and labelled batches.
    from gantrain.losses.feature_matching import FeatureMatching

    torch.manual_seed(0)
    make = {"non_saturating": AdversarialGAN, "feature_matching": FeatureMatching, "catgan": CatGAN}[objective]
    G = nn.Sequential(nn.Linear(4, 16), nn.Unflatten(1, (1, 4, 4)))
    D, reference = _BatchNormClassifier(), _BatchNormClassifier()
    reference.load_state_dict(D.state_dict())
    x, x_lab = torch.randn(5, 1, 4, 4), torch.randn(3, 1, 4, 4)
    batch, latent = Batch(x=x, x_lab=x_lab, y_lab=torch.tensor([0, 1, 2])), Latent(torch.randn(5, 4) * 3 + 2)
    make().discriminator_step(G, D, batch, latent).loss.backward()
    make().generator_step(G, D, batch, latent).loss.backward()
    # the same D on the real batches alone, in the order the steps see them: x and x_lab (D step), x (G
    # step, feature matching's real features only)
    reference(x), reference(x_lab)
    if objective == "feature_matching":
        reference(x)
    bn, bn_ref = D.features[2], reference.features[2]
    assert torch.allclose(bn.running_mean, bn_ref.running_mean) and torch.allclose(bn.running_var, bn_ref.running_var)
    assert bn.num_batches_tracked == bn_ref.num_batches_tracked and bn.track_running_stats
    assert not torch.allclose(bn.running_mean, torch.zeros(6))  # real batches did update them


def test_adam_uses_the_fused_kernel_with_the_same_updates() -> None:
    from gantrain.training.optim import adam

    torch.manual_seed(0)
    ours, ref = nn.Linear(6, 3), nn.Linear(6, 3)
    ref.load_state_dict(ours.state_dict())
    opt, opt_ref = adam(ours.parameters(), lr=1e-2), torch.optim.Adam(ref.parameters(), lr=1e-2, betas=(0.5, 0.999), foreach=False)
    assert opt.defaults["fused"]
    x, start = torch.randn(8, 6), ours.weight.detach().clone()
    for _ in range(10):
        for net, o in ((ours, opt), (ref, opt_ref)):
            o.zero_grad()
            net(x).pow(2).mean().backward()
            o.step()
    assert not torch.allclose(ours.weight, start, atol=1e-3)  # it moved
    assert torch.allclose(ours.weight, ref.weight, atol=1e-6)  # exactly as the per-tensor Adam moved
