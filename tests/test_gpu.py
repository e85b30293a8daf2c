"""GPU path: the training notebooks run with DEVICE="cuda" and their larger settings.

Skipped, with the reason, on machines without a CUDA GPU (CI has none). Each notebook can keep
larger GPU settings in its metadata (`metadata.visrec.gpu_parameters`); otherwise its learner
defaults are used. Wall times are written to build/gpu_times.json.
"""

import json
import time

import pytest

from visrec_book.workbook import ROOT, execute, is_training_notebook, list_notebooks

torch = pytest.importorskip("torch")
TRAINING = [p for p in list_notebooks() if is_training_notebook(p)]

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine: the GPU path is not run"),
]


def _gpu_parameters(path):
    meta = json.loads(path.read_text()).get("metadata", {}).get("visrec", {})
    return {**meta.get("gpu_parameters", {}), "DEVICE": "cuda"}


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
def test_training_notebook_on_gpu(path, tmp_path):
    t0 = time.perf_counter()
    records = execute(path, tmp_path / path.name, parameters=_gpu_parameters(path))
    seconds = time.perf_counter() - t0
    assert records, f"{path.name} recorded nothing on the GPU"
    out = ROOT / "build" / "gpu_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    times = json.loads(out.read_text()) if out.exists() else {}
    times[path.stem] = round(seconds, 1)
    out.write_text(json.dumps(times, indent=1, sort_keys=True))
