"""What the machine has free for this process, read without building anything."""

import torch


def available_bytes(device: torch.device) -> int | None:
    """Memory free for this process on `device`; None when unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
