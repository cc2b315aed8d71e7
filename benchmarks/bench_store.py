"""Cost of the dataset integrity checks (issue #17): write / read of a pcml HDF5 dataset with
Fletcher32 + SHA-256 (format 2) against the same arrays written plainly (contiguous, no filter,
no hash: the format-1 layout), side by side.

Cases: one float32 field ``u`` of shape (n_traj, 40, 64, 64) with n_traj = 8 (5 MB) and 64 (42 MB).
Rows: ``plain`` h5py write / read of the field; ``pcml`` ``write_dataset`` / ``read_dataset``
(every checksum verified) / ``verify_dataset`` (the cache check). Repetitions are interleaved
across variants; the minimum wall time of 5 is reported (the machine is shared).

Run with ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_store.py``; writes
``benchmarks/results/store.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from pcml.data import PDEData, read_dataset, verify_dataset, write_dataset


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _case(n_traj: int, folder: Path, repeats: int = 5) -> dict[str, float]:
    u = np.random.default_rng(0).standard_normal((n_traj, 40, 64, 64)).astype(np.float32)
    grid = np.linspace(0.0, 1.0, 64)
    data = PDEData("bench", {"u": u}, np.linspace(0.0, 1.0, 40), {"x": grid, "y": grid})
    plain, pcml = folder / "plain.h5", folder / "pcml.h5"

    def plain_write() -> None:
        with h5py.File(plain, "w") as f:
            f.create_dataset("u", data=u)
            f.flush()
        fd = os.open(plain, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    def plain_read() -> None:
        with h5py.File(plain, "r") as f:
            f["u"][()]

    runs: dict[str, list[float]] = {}
    variants = {
        "plain_write": plain_write,
        "plain_read": plain_read,
        "pcml_write": lambda: write_dataset(pcml, data),
        "pcml_read": lambda: read_dataset(pcml),
        "pcml_verify": lambda: verify_dataset(pcml),
    }
    for _ in range(repeats):
        for name, fn in variants.items():
            runs.setdefault(name, []).append(_time(fn))
    best = {k: min(v) for k, v in runs.items()}
    best["mb"] = u.nbytes / 1e6
    best["write_ratio"] = best["pcml_write"] / best["plain_write"]
    best["read_ratio"] = best["pcml_read"] / best["plain_read"]
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases = {str(n): _case(n, Path(tmp)) for n in (8, 64)}
    print(
        "| n_traj | MB | plain write s | pcml write s | ratio | plain read s | pcml read s "
        "| ratio | verify s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, c in cases.items():
        print(
            f"| {n} | {c['mb']:.0f} | {c['plain_write']:.3f} | {c['pcml_write']:.3f} | "
            f"{c['write_ratio']:.1f} | {c['plain_read']:.3f} | {c['pcml_read']:.3f} | "
            f"{c['read_ratio']:.1f} | {c['pcml_verify']:.3f} |"
        )
    out = {
        "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "cases": cases,
    }
    path = Path(__file__).parent / "results" / "store.json"
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_path, path)


if __name__ == "__main__":
    main()
