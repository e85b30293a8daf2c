"""Running a training notebook again with the same seed gives the same recorded figures.

Runs after `make notebooks` (which leaves build/records/<notebook>.json): each training notebook
is executed once more (with the same parameters, ``workbook.run_parameters``) with an empty model cache, so its models are trained again from scratch,
and the figures must match the first run within float tolerance. Cached data that no training
produces (catalogs, and embeddings from the fixed pretrained backbone) is shared with the first
run through links, so each re-run retrains its models without rebuilding the emoji catalog. Timing figures (names with
"ms", "seconds", "per_s", "latency", "throughput", "time", ...) and figures derived from a
measured time ("nodes") are machine noise and are skipped.
"""

import math
import os
import re

import pytest

from visrec_book.figures import load_record
from visrec_book.workbook import ROOT, execute, is_training_notebook, list_notebooks

RECORDS = ROOT / "build" / "records"
TRAINING = [p for p in list_notebooks() if is_training_notebook(p)]
# Figures measured in time, or derived from a time measured in the run (q15 sizes its node
# counts from the search cost it measures), move with the machine's load.
NOISY = re.compile(r"(^|[._])(ms|seconds?|s|minutes?|cpu|per_s|latency|throughput|time|speedup|p50|p95|p99|qps|wall|nodes)([._@]|$)")

pytestmark = pytest.mark.determinism


def _close(a, b, rel=1e-3, abs_=1e-6):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel, abs_) for k in a)
    return a == b


def test_timing_names_are_recognised():
    assert NOISY.search("q01.ms_per_query.naive") and NOISY.search("q06.latency_p99_ms")
    assert NOISY.search("q15.nodes.float32") and NOISY.search("t05.cpu_minutes")
    assert not NOISY.search("q01.ndcg@10.cnn_mean") and not NOISY.search("t01.test_accuracy")


def _cache_without_models(folder):
    """A cache folder that links every entry of the real cache except the trained models."""
    from visrec_helpers.core.cache import cache_dir, models_dir

    real, models = cache_dir(), models_dir()
    folder.mkdir(parents=True)
    for entry in real.iterdir():
        if entry != models and not entry.name.endswith(".lock"):
            (folder / entry.name).symlink_to(entry)
    return folder


def test_the_rerun_cache_holds_no_models(tmp_path, monkeypatch):
    real = tmp_path / "real"
    (real / "models").mkdir(parents=True)
    (real / "models" / "cnn-v1-abc.pt").write_bytes(b"x")
    (real / "emoji-twemoji.npz").write_bytes(b"y")
    monkeypatch.setenv("VISREC_CACHE", str(real))
    cache = _cache_without_models(tmp_path / "rerun")
    assert sorted(p.name for p in cache.iterdir()) == ["emoji-twemoji.npz"]


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
def test_same_seed_same_figures(path, tmp_path):
    first_file = RECORDS / f"{path.stem}.json"
    if not first_file.exists():
        pytest.skip(f"no first run in {RECORDS}: run `make notebooks` before this test")
    first = load_record(first_file)["figures"]
    cache = _cache_without_models(tmp_path / "cache")
    env = {"VISREC_CACHE": str(cache), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    second = execute(path, tmp_path / path.name, env=env)
    compared = [k for k in first if not NOISY.search(k)]
    assert compared, f"{path.name} records only timing figures"
    differ = {k: (first[k], second.get(k)) for k in compared if not _close(first[k], second.get(k))}
    assert not differ, f"{path.name}: figures changed between two runs with the same seed: {differ}"
