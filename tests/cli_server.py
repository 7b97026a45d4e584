"""The tests' way to run `python -m gantrain ARGS` without paying its imports each time.

Every command the tests run starts a Python that imports torch, torchvision, Hydra and TensorBoard
(5-7 s on a 2-core machine, most of a bad-input test's time). This server imports them once, never runs
a tensor operation itself, and forks a child per command: the child gets the caller's working folder,
environment and argv, its own stdout and stderr files, imports gantrain's own modules afresh and runs its
`main()` as `python -m gantrain` does (uncaught exceptions through sys.excepthook, atexit handlers, the exit code).

Protocol (one JSON object per line): request {"args", "cwd", "env", "stdout", "stderr", "timeout"} on
stdin; reply {"returncode"} on stdout, negative for a signal (-14: the timeout's SIGALRM).
"""

import atexit
import json
import os
import signal
import sys


def _run_child(request: dict) -> None:
    """In the forked child: become `python -m gantrain ARGS` in the caller's folder, then exit."""
    code = 1
    try:
        os.chdir(request["cwd"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        signal.alarm(int(request["timeout"]))  # the default action ends the child: the caller sees -14
        sys.argv = ["gantrain", *request["args"]]
        sys.path[0] = os.getcwd()  # as `python -m` puts the working folder first (this file's folder was)
        # gantrain itself is imported afresh, as by a new process: its import-time state (the start time
        # that names a resumed run's record, torchrun's RANK) must be this command's, not the server's
        for name in [m for m in sys.modules if m == "gantrain" or m.startswith("gantrain.")]:
            del sys.modules[name]
        from gantrain.app.entry import main

        try:
            main()
            code = 0
        except SystemExit as e:  # what the interpreter does with an uncaught SystemExit
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 -- an uncaught exception, reported as the interpreter would
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    # What a `gantrain` process imports, loaded once here; nothing may start threads (fork safety).
    # and what gantrain imports only when a command needs it (Canny, SSIM, the probe's classifier, charts)
    import matplotlib
    import torch.utils.tensorboard  # noqa: F401

    matplotlib.use("Agg")  # as gantrain's charts do
    import matplotlib.pyplot  # noqa: F401
    import skimage.feature  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import torchmetrics.functional.image  # noqa: F401

    import gantrain.app.cli  # noqa: F401
    import gantrain.app.run  # noqa: F401
    import gantrain.metrics.fidelity  # noqa: F401
    import gantrain.tasks  # noqa: F401

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
