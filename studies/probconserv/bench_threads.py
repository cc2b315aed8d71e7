import sys, time, torch
from pcml.experiments.probconserv import _PointTasks, _build, prepare_data
from pcml.experiments.probconserv_config import make_config
from pathlib import Path
torch.set_num_threads(int(sys.argv[1])); bs = int(sys.argv[2])
cfg = make_config("stefan", "quick", overrides=sys.argv[3:])
paths = prepare_data(cfg, Path("runs/val/base"))
ds = _PointTasks(paths["train"])
m = _build("anp", cfg); opt = torch.optim.Adam(m.parameters(), 1e-3)
def step(i):
    b = {k: v[i*bs:(i+1)*bs] for k, v in ds.tensors.items()}
    opt.zero_grad(); l = m.loss(b); l.backward(); opt.step()
for i in range(5): step(i)
w, c = time.perf_counter(), time.process_time()
for i in range(5, 45): step(i)
print(f"threads {sys.argv[1]} batch {bs}: {(time.perf_counter()-w)/40:.3f} s wall/step, {(time.process_time()-c)/40:.3f} s cpu/step")
