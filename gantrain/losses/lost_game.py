"""When a GAN's generator has lost the game: D rejects its samples with near certainty, log after log."""

# G has lost the game when D rejects its samples with near certainty, log after log: the mean D(G(z)) under
# LOST_GAME_D_FAKE for LOST_GAME_STEPS steps. In the SGAN probes of docs/semi_supervised.md such a G never
# came back (D(G(z)) below 1e-3 for 17,000 steps, every sample one speckle) while the run trained on.
LOST_GAME_D_FAKE = 0.01
LOST_GAME_STEPS = 1000


class LostGameWatch:
    """Watches the logged mean D(G(z)) ("d/fake") and says when it has stayed under `threshold` at every
    log for `steps` steps. Once said, it says it again only after G has been back in the game (every log at
    or above the threshold) for `steps` steps: a lost G's brief flickers above it are not a recovery.
    Objectives that log no d/fake (CatGAN's, the VAE's) are never flagged."""

    def __init__(self, threshold: float = LOST_GAME_D_FAKE, steps: int = LOST_GAME_STEPS) -> None:
        self.threshold = threshold
        self.steps = steps
        self.low_since: int | None = None  # the first log of the current run of low values
        self.high_since: int | None = None  # the first log of the current run of values at or above it
        self.warned = False

    def update(self, step: int, d_fake: float | None) -> int | None:
        """The step the low run began, on the first log at which it spans `steps`; None otherwise."""
        if d_fake is None:
            return None
        if d_fake >= self.threshold:
            self.low_since = None
            self.high_since = step if self.high_since is None else self.high_since
            if self.warned and step - self.high_since >= self.steps:
                self.warned = False  # recovered: a later fall is news again
            return None
        self.high_since = None
        self.low_since = step if self.low_since is None else self.low_since
        if not self.warned and step - self.low_since >= self.steps:
            self.warned = True
            return self.low_since
        return None
