"""The losses of the GAN papers as small pure functions, written with logits for numerical stability.

With D(x) = sigmoid(l) for a logit l, two identities carry the two-player game:
    log D(x)       = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x))  = log sigmoid(-l)    = -softplus(l)
softplus never overflows or takes log(0), so these stay finite where sigmoid saturates.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-[log D(x) + log(1 - D(G(z)))], batch means: D ascends V(D, G) by descending this."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """log(1 - D(G(z))) = -softplus(l): the saturating form that G minimises in the paper's minimax game.

    Its gradient, -sigmoid(l) dl, vanishes as D(G(z)) -> 0, i.e. early on when D wins easily.
    """
    return -F.softplus(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """-log D(G(z)) = softplus(-l): G maximises log D(G(z)) (the paper's practical alternative).

    Its gradient, -(1 - sigmoid(l)) dl, is largest exactly where the minimax one vanishes.
    """
    return F.softplus(-fake_logits).mean()


def real_fake_logit(outputs: Tensor, fake_class: bool = False) -> Tensor:
    """The logit of "x is real" from a discriminator's outputs.

    (B,) outputs are that logit already. (B, K) class logits l_1..K with the fake logit fixed at 0
    (Salimans et al. 2016): D(x) = Z(x) / (Z(x) + 1), Z = sum_k exp(l_k), whose logit is logsumexp(l).
    (B, K+1) with a learned fake class (Odena 2016): D(x) = Z(x) / (Z(x) + exp(l_fake)), logit
    logsumexp(l_1..K) - l_fake.
    """
    if outputs.dim() == 1:
        return outputs
    if fake_class:
        return torch.logsumexp(outputs[:, :-1], dim=1) - outputs[:, -1]
    return torch.logsumexp(outputs, dim=1)


def class_logits(outputs: Tensor, fake_class: bool = False) -> Tensor:
    """(B, K) logits of the K real classes: p(y | x, y <= K) = softmax of these."""
    return outputs[:, :-1] if fake_class else outputs


def conditional_entropy(logits: Tensor) -> Tensor:
    """E_x H[p(y | x)]: the mean entropy of each sample's class distribution (CatGAN). Low means D is
    certain of each sample's class; logits (B, K) -> scalar, in nats."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def marginal_entropy(logits: Tensor) -> Tensor:
    """H[E_x p(y | x)]: the entropy of the batch's average class distribution (CatGAN). High means the
    batch spreads over all classes; logits (B, K) -> scalar, in nats."""
    p_mean = F.softmax(logits, dim=1).mean(dim=0)
    return -(p_mean * torch.log(p_mean.clamp_min(1e-12))).sum()


def uniform_divergence(logits: Tensor) -> Tensor:
    """KL(u || E_x p(y | x)): how far the batch's average class distribution is from uniform u, measured
    from u's side. Zero when the batch uses all K classes equally. Unlike the marginal entropy
    (-H[p_mean] = KL(p_mean || u) - log K), whose gradient on a class's logits vanishes with the class's
    share, this keeps a gradient of order 1/K on a class the batch has stopped using.
    logits (B, K) -> scalar, in nats."""
    B, K = logits.shape
    # log p_mean_k = logsumexp_i log p(k | x_i) - log B, stable however small the share
    log_p_mean = torch.logsumexp(F.log_softmax(logits, dim=1), dim=0) - math.log(B)
    return -math.log(K) - log_p_mean.mean()


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image of x (B, C, H, W) moved by its own whole-pixel offset (dy, dx), each drawn uniformly
    from -max_shift..max_shift; the border pixels repeat into the space left behind (for digits: the
    background). Returns (B, C, H, W)."""
    if max_shift <= 0:
        return x
    B, _, H, W = x.shape
    s = int(max_shift)
    padded = F.pad(x, (s, s, s, s), mode="replicate")  # (B, C, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * s + 1, (2, B), device=x.device, generator=generator)  # crop corners
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(B, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def consistency_divergence(logits: Tensor, moved_logits: Tensor) -> Tensor:
    """E_x KL(p(y | x) || p(y | T(x))) with p(y | x) held fixed: how much a small change T of the input
    (a shift) changes the class distribution. Its gradient flows through the moved images' logits only,
    pulling their prediction towards the original's (Hu et al. 2017, IMSAT's self-augmentation term).
    logits, moved_logits (B, K) -> scalar, in nats."""
    log_p = F.log_softmax(logits.detach(), dim=1)
    log_q = F.log_softmax(moved_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor, reduction: str = "sum") -> Tensor:
    """|| E f(x) - E f(G(z)) ||^2 over an intermediate layer f of D (Salimans et al. 2016): G matches
    the statistics of real data's features instead of maximising D's output. (B, ...) -> scalar.
    reduction="mean" divides by the number of features, as their code does (T.mean): Adam is blind to
    the scale except through its epsilon, which then weighs 250 times more on their MNIST D."""
    squared = (real_features.flatten(1).mean(0) - fake_features.flatten(1).mean(0)).pow(2)  # (F,)
    return squared.mean() if reduction == "mean" else squared.sum()


def supervised_loss(outputs: Tensor, labels: Tensor, fake_class: bool = False) -> Tensor:
    """-log p(y | x, y <= K): cross-entropy over the real classes, on labelled data. A batch with no
    labelled items gives 0, not NaN."""
    if labels.numel() == 0:
        return outputs.sum() * 0.0
    return F.cross_entropy(class_logits(outputs, fake_class), labels)


def l1_loss(fake: Tensor, target: Tensor) -> Tensor:
    """E ||y - G(x)||_1 per pixel (Pix2Pix's reconstruction term; the paper found it blurs less than L2)."""
    return (fake - target).abs().mean()


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, (B, D) -> (B,): -1/2 sum(1 + logvar - mu^2 - exp(logvar))."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def bernoulli_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """-log p(x|z) of pixels x in [0, 1] under Bernoulli(sigmoid(logits)), summed per image: (B, ...) -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).sum(dim=1)


# ----- the criteria the field settled on after the classic papers (D's outputs are unbounded scores) -----


def hinge_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]: the hinge loss of Lim & Ye (2017) and Miyato et al.
    (2018), SNGAN's; D stops pushing a score once it is past the margin."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_generator_loss(fake: Tensor) -> Tensor:
    """-E[D(G(z))]: G raises its score without a margin (Miyato et al. 2018, eq. 17)."""
    return -fake.mean()


def wasserstein_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """E[D(G(z))] - E[D(x)]: the critic's side of the Kantorovich-Rubinstein dual (Arjovsky et al. 2017);
    its negative estimates the Wasserstein-1 distance when D is 1-Lipschitz (which a penalty enforces)."""
    return fake.mean() - real.mean()


def wasserstein_generator_loss(fake: Tensor) -> Tensor:
    """-E[D(G(z))]."""
    return -fake.mean()


def least_squares_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """E[(D(x) - 1)^2] + E[D(G(z))^2]: LSGAN with targets b = 1, a = 0 (Mao et al. 2017, eq. 2, whose
    factor 1/2 is a constant scale left to the learning rate)."""
    return (real - 1).pow(2).mean() + fake.pow(2).mean()


def least_squares_generator_loss(fake: Tensor) -> Tensor:
    """E[(D(G(z)) - 1)^2]: G's target c = 1."""
    return (fake - 1).pow(2).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, epsilon: Tensor) -> Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat =
    epsilon x + (1 - epsilon) x_tilde, points on straight lines between real (B, ...) and generated
    (B, ...) images, epsilon (B, 1, ..., 1) ~ U[0, 1]. create_graph: D's step descends the penalty too."""
    x_hat = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, ...): each score's own gradient
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018, eq. 9) without its gamma / 2: E[||grad_x D(x)||^2] on real images x (B, ...),
    pulling D's gradient to zero on the data, where an equilibrium of the game has it."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
