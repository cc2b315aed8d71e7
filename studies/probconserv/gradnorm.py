import torch
from pathlib import Path
from pcml.experiments.probconserv import _PointTasks, _build, prepare_data
from pcml.experiments.probconserv_config import make_config
from pcml.train import load_checkpoint
torch.set_num_threads(1); torch.manual_seed(0)
cfg = make_config("stefan", "quick")
ds = _PointTasks(prepare_data(cfg, Path("runs/val/base"))["train"])
for name in ("init", "best"):
    m = _build("anp", cfg)
    if name == "best":
        m.load_state_dict(load_checkpoint("runs/val/base/checkpoints/anp-best.pt")["state_dict"])
    ns = []
    for i in range(20):
        idx = torch.randint(0, len(ds), (16,))
        b = {k: v[idx] for k, v in ds.tensors.items()}
        m.zero_grad(); l = m.loss(b); l.backward()
        ns.append(float(torch.nn.utils.get_total_norm([p.grad for p in m.parameters()])))
    ns = torch.tensor(ns); print(name, "loss", float(l), "grad norm median", float(ns.median()), "max", float(ns.max()), "min", float(ns.min()))
