"""The top layer: the `gantrain` command (entry.py, cli.py), the config schema and its checks (config.py),
a composed config turned into a finished run (run.py), sweeps checked before they start (sweep_check.py)
and the sweep report (report.py). Imports from every layer below; nothing imports it."""
