"""The offline half of a scalable image recommender as PySpark jobs: batch embeddings with
``mapInPandas`` and implicit-feedback ALS with ``pyspark.ml.recommendation.ALS``.

The jobs take a ``SparkSession`` and Spark DataFrames and never assume the driver holds
the data, so the same code runs on a laptop (``local[2]``) and on a cluster (``spark-submit
--master yarn``/``k8s://...``; the master comes from ``spark-submit`` or
``$VISREC_SPARK_MASTER``). Model weights travel to the executors as a broadcast
``state_dict`` (bytes) and are loaded with ``torch.load(..., weights_only=True)``.

PySpark needs a Java runtime (17 or newer for Spark 4). ``java_status()`` says whether
one is usable, and ``get_spark`` raises ``JavaMissingError`` with the fix when it is not.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

from visrec_helpers.recsys.base import Recommender, check_user_items


class JavaMissingError(RuntimeError):
    """No usable Java runtime for Spark; the message says how to install one."""


def java_status(min_version: int = 17) -> tuple[bool, str]:
    """``(ok, message)``: whether a Java runtime of at least ``min_version`` is available.

    Looks at ``$JAVA_HOME/bin/java`` first, then ``java`` on the ``PATH``.
    """
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home and os.path.exists(os.path.join(home, "bin", "java")) \
        else shutil.which("java")
    fix = (f"install a Java {min_version}+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; "
           "macOS: brew install openjdk@17) and/or set JAVA_HOME")
    if java is None:
        return False, f"no Java runtime found (JAVA_HOME unset and no 'java' on PATH): {fix}"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{java} could not be run ({exc}): {fix}"
    text = (out.stderr or "") + (out.stdout or "")
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return False, f"could not read the Java version from {java!r} ({text.strip()[:80]!r}): {fix}"
    major = int(m.group(1)) if m.group(1) != "1" else int(m.group(2) or 0)
    if major < min_version:
        return False, f"Java {major} at {java} is too old for Spark (needs {min_version}+): {fix}"
    return True, f"Java {major} at {java}"


def get_spark(app_name: str = "visrec", master: str | None = None, cores: int = 2, memory: str = "1g"):
    """A ``SparkSession``: ``master`` (else ``$VISREC_SPARK_MASTER``, else ``local[cores]``).

    Under ``spark-submit`` the master given there wins, so notebook code runs unchanged on
    a cluster. Local sessions bind to 127.0.0.1, have no UI, no console progress bar and few
    shuffle partitions (the defaults are sized for clusters); their JVM's stderr goes to
    ``<tempdir>/visrec-spark-<pid>.log``. Raises ``JavaMissingError`` without Java.
    """
    ok, message = java_status()
    if not ok:
        raise JavaMissingError(message)
    # PySpark warns about every pandas >= 3 conversion although the ones used here work
    warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ImportError("PySpark is not installed: pip install 'visrec-helpers[spark]' "
                          "(pyspark and pyarrow)") from exc
    master = master or os.environ.get("VISREC_SPARK_MASTER") or f"local[{cores}]"
    if master.startswith("local"):
        # the Python workers must be this interpreter (the one with torch and this package)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (SparkSession.builder.appName(app_name).master(master)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
               .config("spark.default.parallelism", str(max(2, cores * 2))))
    if not master.startswith("local"):
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        return spark
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to a loopback address" warning
    builder = (builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", memory)
               .config("spark.ui.showConsoleProgress", "false"))
    # The local JVM (and the Python workers it starts) inherit this process's stderr: send it to a
    # log file instead, so that start-up notes and native-library warnings do not reach a notebook.
    # Errors still reach Python as exceptions.
    log_path = os.path.join(tempfile.gettempdir(), f"visrec-spark-{os.getpid()}.log")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 2)
            spark = builder.getOrCreate()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ---------------------------------------------------------------------------
# Embeddings with mapInPandas
# ---------------------------------------------------------------------------

def images_frame(spark, images: np.ndarray, partitions: int = 4):
    """A Spark DataFrame ``item long, image binary`` of raw uint8 pixel buffers.

    On a cluster the same columns come from storage (for example
    ``spark.read.format("binaryFile")`` plus a decode step); here they come from memory.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (n, H, W[, C]) uint8 array, got {arr.dtype} {arr.shape}")
    pdf = pd.DataFrame({"item": np.arange(len(arr), dtype=np.int64), "image": [a.tobytes() for a in arr]})
    return spark.createDataFrame(pdf).repartition(partitions)


def _state_bytes(model) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def module_embed(net, images: np.ndarray) -> np.ndarray:
    """``net.embed`` on uint8 ``images`` turned into a float tensor: ``(b, d)`` (the workbook's CNNs)."""
    import torch

    from visrec_helpers.vision.training import images_to_tensor

    with torch.no_grad():
        return net.embed(images_to_tensor(images)).float().numpy()


def backbone_embed(net, images: np.ndarray, input_size: int = 160) -> np.ndarray:
    """The pretrained backbone's pooled features of uint8 ``images``: ``(b, 1280)``, as
    ``vision.pretrained.PretrainedEncoder.embed`` computes them (eager model, same preprocessing)."""
    import torch

    from visrec_helpers.vision.pretrained import PretrainedEncoder

    return PretrainedEncoder(net, input_size, torch.device("cpu"), "eager").embed(images)


def embed_partition(batches, weights, model_factory, embed_fn, image_shape, batch_size=64):
    """The body of the ``mapInPandas`` job: runs on an executor, once per partition.

    ``batches``: an iterator of pandas frames ``item, image`` (raw uint8 buffers);
    ``weights``: a broadcast ``state_dict`` (bytes). The network is built and loaded ONCE
    here, not once per row; then each batch of rows is decoded and embedded.
    Yields frames ``item, embedding`` (rows L2-normalised).
    """
    import torch

    from visrec_helpers.vision.features import l2_normalize

    torch.set_num_threads(1)  # one thread per task: Spark runs one task per core
    net = model_factory()
    buf = io.BytesIO(weights.value)  # the broadcast state_dict's bytes
    net.load_state_dict(torch.load(buf, weights_only=True))
    net.eval()
    for pdf in batches:
        imgs = np.stack([np.frombuffer(b, dtype=np.uint8).reshape(image_shape) for b in pdf["image"]])
        vecs = np.concatenate([embed_fn(net, imgs[s : s + batch_size]) for s in range(0, len(imgs), batch_size)])
        yield pd.DataFrame({"item": pdf["item"].to_numpy(), "embedding": list(l2_normalize(vecs))})


def embed_job(spark, frame, model_factory, model, image_shape, embed_fn=module_embed, batch_size=64):
    """Embed every row of ``frame`` (``item, image``) on the executors with ``mapInPandas``.

    ``model_factory``: a picklable zero-argument callable that builds the network without
    weights; ``model``: the trained instance whose weights are broadcast to the executors;
    ``embed_fn(net, uint8 images) -> (b, d)``: ``module_embed`` for the workbook's CNNs,
    ``backbone_embed`` for the pretrained backbone. Returns a lazy DataFrame
    ``item long, embedding array<float>``: nothing runs until it is written or collected.
    """
    weights = spark.sparkContext.broadcast(_state_bytes(model))
    job = functools.partial(embed_partition, weights=weights, model_factory=model_factory, embed_fn=embed_fn,
                            image_shape=tuple(int(s) for s in image_shape), batch_size=batch_size)
    return frame.mapInPandas(job, schema="item long, embedding array<float>")


def collect_embeddings(frame, n_items: int | None = None) -> np.ndarray:
    """Bring an ``item, embedding`` DataFrame to the driver as ``(n_items, d)`` float32, row = item id.

    Only for results small enough for one machine; on a cluster write them to storage
    (``frame.write.parquet(...)``) or straight into the index service instead.
    """
    pdf = frame.toPandas().sort_values("item")
    items = pdf["item"].to_numpy()
    n = int(items.max()) + 1 if n_items is None else n_items
    if len(items) != n or not np.array_equal(items, np.arange(n)):
        raise ValueError(f"expected one embedding for each item 0..{n - 1}, got {len(items)} rows")
    return np.stack(pdf["embedding"].to_numpy()).astype(np.float32)


# ---------------------------------------------------------------------------
# ALS
# ---------------------------------------------------------------------------

def interactions_frame(spark, user_items):
    """A Spark DataFrame ``user int, item int, rating float`` from a users x items matrix."""
    m = check_user_items(user_items).tocoo()
    pdf = pd.DataFrame({"user": m.row.astype(np.int32), "item": m.col.astype(np.int32),
                        "rating": m.data.astype(np.float32)})
    return spark.createDataFrame(pdf)


def als_job(ratings, factors=32, regularization=0.05, alpha=10.0, iterations=10, seed=0, implicit=True):
    """Train Spark's ALS on a ``user, item, rating`` DataFrame; returns the fitted ``ALSModel``.

    ``implicit=True``: views and clicks as confidence ``1 + alpha * rating`` (Hu, Koren,
    Volinsky 2008), the right model for implicit feedback; ``False`` fits the ratings
    themselves (stars). ALS reads only the three named columns: any other column of
    ``ratings`` (image features, say) is ignored. Factors: ``model.userFactors`` and
    ``model.itemFactors`` (``id, features``).
    """
    from pyspark.ml.recommendation import ALS

    als = ALS(rank=factors, maxIter=iterations, regParam=regularization, alpha=alpha, implicitPrefs=implicit,
              userCol="user", itemCol="item", ratingCol="rating", seed=seed, coldStartStrategy="drop")
    return als.fit(ratings)


class SparkALS(Recommender):
    """``pyspark.ml.recommendation.ALS`` (implicit preferences) in this package's estimator shape.

    Hyper-parameters mirror ``recommenders.ALS``: confidence ``1 + alpha * r``,
    ``factors`` = Spark's ``rank``, ``regularization`` = ``regParam`` (Spark scales it by
    each user's and item's number of ratings, so equal numbers do not mean equal
    strength), ``iterations`` = ``maxIter``. ``fit`` trains on the cluster (or local
    master) of ``spark`` and brings the factors back as ``user_factors_`` and
    ``item_factors_`` so that ``recommend`` works like every other recommender here.
    """

    def __init__(self, spark=None, factors: int = 32, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 10, seed: int = 0):
        self.spark = spark
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, X, *, item_features=None, timestamps=None):
        self.user_items_ = check_user_items(X)
        spark = self.spark or get_spark()
        self.model_ = als_job(interactions_frame(spark, self.user_items_), factors=self.factors,
                              regularization=self.regularization, alpha=self.alpha,
                              iterations=self.iterations, seed=self.seed)
        n_users, n_items = self.user_items_.shape
        self.user_factors_ = factor_matrix(self.model_.userFactors, n_users, self.factors)
        self.item_factors_ = factor_matrix(self.model_.itemFactors, n_items, self.factors)
        return self

    def score(self, users):
        users = self._check_users(users)
        return self.user_factors_[users] @ self.item_factors_.T


def factor_matrix(frame, n: int, rank: int) -> np.ndarray:
    """Spark's ``id, features`` factor table as a dense ``(n, rank)`` array (missing ids get 0)."""
    pdf = frame.toPandas()
    out = np.zeros((n, rank))
    if len(pdf):
        out[pdf["id"].to_numpy()] = np.stack(pdf["features"].to_numpy())
    return out


def top_k_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of items two ``(n_users, k)`` recommendation lists have in common."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"lists must have the same shape, got {a.shape} and {b.shape}")
    return float(np.mean([len(set(x) & set(y)) / a.shape[1] for x, y in zip(a.tolist(), b.tolist())]))
