"""Data sets: each yields (uint8 image (C, H, W), label) at the configured size and channel count.

In memory: MNIST (IDX files, or the bundled subset: 4,000 training and 1,000 test digits) and CIFAR-10 (python batches).
Streamed: LSUN (LMDB) and ImageFolder (a folder of image files). `base.BatchStream` batches any of them.
"""

from gantrain.data.cifar10 import CIFAR10
from gantrain.data.folder import ImageFolder
from gantrain.data.lsun import LSUN
from gantrain.data.mnist import MNIST

__all__ = ["CIFAR10", "LSUN", "MNIST", "ImageFolder"]
