"""Where a training step's time goes: torch.profiler over gantrain's own train_step, operators grouped by
their input shapes (so each layer's convolutions show apart).

    python bench/profile_step.py --mnist ../shared/data/mnist train.precision=bf16
    python bench/profile_step.py --mnist ../shared/data/mnist --steps 5 train.precision=fp32 train.channels_last=true
    python bench/profile_step.py --mnist ../shared/data/mnist --native-weight-grads train.precision=bf16   # A/B of gemm_conv

The default overrides are bench/throughput.py's side-by-side network (DCGAN at 64x64, batch 64); any
gantrain override can be added.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.profiler import ProfilerActivity, profile

import gantrain.cli  # noqa: F401  (the config schema and resolvers)
import gantrain.training
from gantrain.priors import LatentPrior
from gantrain.settings import TrainSettings
from gantrain.training import Trainer
from throughput import DCGAN64

CONF = Path(__file__).resolve().parents[1] / "conf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="folder with the MNIST IDX files")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (after 3 unprofiled ones)")
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--native-weight-grads", action="store_true",
                        help="bf16: keep oneDNN's weight gradient for every layer (gantrain/gemm_conv.py off), for an A/B")
    parser.add_argument("overrides", nargs="*", help="gantrain overrides, e.g. train.precision=bf16")
    args = parser.parse_args()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*DCGAN64, f"data.root={args.mnist}", "device=cpu", *args.overrides])
    if args.native_weight_grads:
        gantrain.training.use_gemm_weight_gradients = lambda *networks: 0
    settings = TrainSettings(**OmegaConf.to_container(cfg.train, resolve=True))
    torch.manual_seed(0)
    G, D = instantiate(cfg.model.generator), instantiate(cfg.model.discriminator)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(
            G=G, D=D, objective=instantiate(cfg.loss), prior=LatentPrior(cfg.model.z_dim, cfg.model.z_dist), data=instantiate(cfg.data),
            make_optimizer=instantiate(cfg.optim), settings=settings, run_dir=Path(run_dir), device=torch.device("cpu"), show_progress=False,
        )  # fmt: skip
        for _ in range(3):
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        rate = settings.batch_size * args.steps / (time.perf_counter() - start)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(args.steps):
                trainer.train_step()
    native = ", native weight gradients" if args.native_weight_grads else ""
    print(f"{rate:.1f} images/s unprofiled ({' '.join(args.overrides) or 'fp32'}{native})")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=32, max_shapes_column_width=70))


if __name__ == "__main__":
    main()
