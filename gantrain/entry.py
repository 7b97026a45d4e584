"""The `gantrain` command's first lines: Ctrl-C and SIGTERM are handled from the first moment
(gantrain/interrupts.py), before torch, Hydra or TensorBoard load; gantrain/cli.py tells it, as it learns
more, what to tidy up and what to say."""

from gantrain import interrupts


def main() -> None:
    interrupts.install()
    from gantrain.cli import main as cli_main

    cli_main()
