"""A legacy training script that knows nothing of metricwatch: one `epoch N val_loss=X` line a second.

Usage: legacy_train.py EPOCHS OFFSET[,OFFSET...] [--ignore-term]
The array task (SLURM_ARRAY_TASK_ID) picks its offset from the list, so some tasks are clearly worse.
"""

import os
import signal
import sys
import time

epochs = int(sys.argv[1])
offsets = [float(x) for x in sys.argv[2].split(",")]
if "--ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
task = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0"))
offset = offsets[task % len(offsets)]
for epoch in range(1, epochs + 1):
    print(f"epoch {epoch} val_loss={1.0 / epoch + offset:.4f}", flush=True)
    time.sleep(1)
