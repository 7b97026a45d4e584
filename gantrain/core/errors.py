"""Errors a user can fix. The CLI prints each as one line and exits non-zero, without a traceback."""


class GantrainError(Exception):
    """A problem with the user's input: the message says what is wrong and how to fix it."""


class ConfigError(GantrainError, ValueError):
    """An invalid configuration value or combination."""


class DataError(GantrainError):
    """A data set that is missing, empty or not in the expected format."""


class CheckpointError(GantrainError):
    """A checkpoint that is missing, damaged or not one of gantrain's."""


class OutputError(GantrainError):
    """A file of the run (samples, metrics) that cannot be written: a full disk, a read-only folder."""


class RunBusy(GantrainError):
    """A run folder that another process is training into (the same resume started twice)."""


class CheckpointWriteError(OutputError, CheckpointError):
    """A checkpoint that cannot be written (a full disk): the previous one is intact."""
