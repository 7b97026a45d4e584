"""The `gantrain` command's first lines: Ctrl-C and SIGTERM are handled from the first moment
(gantrain/training/interrupts.py), before torch, Hydra or TensorBoard load; gantrain/app/cli.py tells it, as it learns
more, what to tidy up and what to say."""

from gantrain.training import interrupts


def main() -> None:
    interrupts.install()
    from gantrain.app.cli import main as cli_main

    cli_main()
