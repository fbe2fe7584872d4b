"""The GPU check (``nas-tf check-gpu``), from a checkout: the same table, the same flags.

    python benchmarks/gpu_check.py          # on the GPU machine
    python benchmarks/gpu_check.py --dry    # on a CPU: every row at tiny size
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nas_tf.cli.gpu_check import main  # noqa: E402

if __name__ == "__main__":
  main()
