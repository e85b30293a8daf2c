"""The design round: q15's system-design question, graded against a rubric the learner ticks.

The question ("design a scalable image recommendation system for 10^8 product images") is
answered aloud against a longer timer; then the rubric shows eight points a strong answer covers,
each with a short model answer, and the learner ticks those they covered. A round's record
(``{"date", "question", "ticked": {point: bool}, "seconds"}``) is saved to
``~/.visrec/design_rounds.json`` through ``flashcards.LockedJsonStore`` (merged under a lock,
replaced atomically, earlier records kept); a file that cannot be read is moved aside to
``<name>.corrupt-<time>`` and reported, never overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from visrec_book.flashcards import LockedJsonStore, ScheduleError

DEFAULT_DESIGN_RECORDS = Path.home() / ".visrec" / "design_rounds.json"
DESIGN_QUESTION = "q15_scalable_architecture"
DESIGN_SECONDS = 30 * 60
QUESTION = {
    "en": "Design a recommendation system that shows visually similar and personalised products for a shop "
          "of 10^8 product images, 50 million users and a peak of 20,000 requests per second.",
    "zh": "为一个有 10^8 张商品图、5000 万用户、峰值每秒 2 万次请求的电商，设计一个推荐系统：给用户推荐"
          "外观相似、又符合个人喜好的商品。",
}


@dataclass(frozen=True)
class RubricPoint:
    key: str
    title_en: str
    title_zh: str
    answer_en: str
    answer_zh: str

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def answer(self, lang: str) -> str:
        return self.answer_zh if lang == "zh" else self.answer_en


RUBRIC: tuple[RubricPoint, ...] = (
    RubricPoint("requirements", "Requirements and SLOs", "需求与 SLO",
                "Ask first: surfaces (similar items, home feed), scale, freshness. Then commit to numbers: "
                "p99 under ~100 ms per request, availability 99.9%, new items visible within minutes, and the "
                "business metric (clicks, purchases) the system is judged by.",
                "先问清楚：哪些场景（相似商品、首页推荐流）、规模、新鲜度要求。再给出数字：每个请求 p99 约 100 ms 以内，"
                "可用性 99.9%，新商品几分钟内可见，以及用来评判系统的业务指标（点击、购买）。"),
    RubricPoint("funnel", "The funnel", "漏斗",
                "Candidates from several sources (ANN over image embeddings, a two-tower model, CF, popular) give a "
                "few hundred items in ~10-20 ms; a ranking model scores only those (~30-50 ms); then filters, "
                "diversity and business rules. Each stage is cheap enough for the number of items it sees.",
                "多路召回（图像 embedding 上的 ANN、双塔模型、CF、热门）在约 10-20 ms 内给出几百个候选；排序模型只给这些"
                "候选打分（约 30-50 ms）；最后是过滤、多样性和业务规则。每一层的开销都和它要处理的物品数相匹配。"),
    RubricPoint("capacity", "Capacity", "容量估算",
                "10^8 x 256-d float32 is ~100 GB: shard it, or compress with PQ (32 bytes: ~3 GB). Time per query "
                "= coarse quantiser + scan of the probed lists; replicas = peak QPS x time per query / (cores x "
                "60% utilisation), plus headroom for a lost zone.",
                "10^8 个 256 维 float32 约 100 GB：要分片，或用 PQ 压缩（32 字节：约 3 GB）。单次查询耗时 = 粗量化 + "
                "扫描被探测的倒排列表；副本数 = 峰值 QPS × 单次耗时 / (核数 × 60% 利用率)，再给一个可用区故障留余量。"),
    RubricPoint("data_loop", "The training-data loop", "训练数据闭环",
                "Log impressions with their position and the model version, then clicks and purchases; join them "
                "into training examples; retrain daily (ranking) and weekly (towers) on the logs; mind the "
                "feedback loop: the system only learns about what it showed, so keep some exploration.",
                "记录曝光（带位置和模型版本），再记录点击和购买；把它们拼成训练样本；排序模型每天、双塔每周在日志上重训；"
                "注意反馈闭环：系统只能从自己展示过的东西里学习，所以要保留一部分探索流量。"),
    RubricPoint("encoder_change", "Encoder change and re-embedding", "编码器更换与重新 embedding",
                "A new image encoder changes every vector: re-embed the whole catalog offline (a batch job on GPUs), "
                "build a new index beside the old one, and switch atomically; never mix vectors of two encoder "
                "versions in one index; query and item towers ship together with a version tag.",
                "换了图像编码器，所有向量都会变：离线重新给整个商品库做 embedding（GPU 上的批处理作业），在旧索引旁建新"
                "索引，再原子切换；同一个索引里绝不能混用两个版本编码器的向量；查询塔和物品塔带着版本号一起发布。"),
    RubricPoint("new_items", "New items (cold start)", "新物品（冷启动）",
                "A new product has an image on day one: embed it at upload and add it to the live index within "
                "minutes (the nightly rebuild takes it in for good); content candidates and a small exploration "
                "budget give it impressions before it has clicks.",
                "新商品第一天就有图片：上传时就做 embedding，几分钟内加进线上索引（每晚重建时正式并入）；内容召回加一点"
                "探索流量，让它在还没有点击之前就能获得曝光。"),
    RubricPoint("monitoring", "Monitoring", "监控",
                "Latency per stage (p50/p99), error and timeout rates, index recall against exact search on a "
                "sample, drift of embedding and score distributions, share of empty or fallback lists, and the "
                "business metrics per model version, with alerts; launches go through A/B tests.",
                "每一层的延迟（p50/p99）、错误率和超时率，在抽样上用精确搜索核对索引召回率，embedding 和打分分布的漂移，"
                "空列表或兜底列表的占比，以及按模型版本拆分的业务指标，并配告警；上线都要过 A/B 测试。"),
    RubricPoint("failover", "Failover", "故障兜底",
                "Every stage has a timeout and a fallback: a ranking timeout serves the candidates' order, a failed "
                "index shard serves the others, a lost profile store serves popular items; replicas across zones; "
                "precomputed lists per user as the last resort.",
                "每一层都有超时和兜底：排序超时就按召回顺序返回，一个索引分片挂了就用其余分片，画像存储不可用就返回热门；"
                "副本跨可用区部署；最后的兜底是每个用户预先算好的列表。"),
)
RUBRIC_KEYS = tuple(p.key for p in RUBRIC)


def design_score(ticked: dict[str, bool]) -> float:
    """Share of the rubric's points ticked (0..1); a point not in the rubric is refused."""
    unknown = set(ticked) - set(RUBRIC_KEYS)
    if unknown:
        raise ValueError(f"ticked: {sorted(unknown)} are not rubric points ({list(RUBRIC_KEYS)})")
    return sum(bool(ticked.get(k)) for k in RUBRIC_KEYS) / len(RUBRIC_KEYS)


def design_record(ticked: dict[str, bool], seconds: float, today: dt.date | None = None) -> dict:
    """What ``DesignRecords`` stores for one design round (every rubric point, ticked or not)."""
    design_score(ticked)  # refuses unknown points
    return {"date": (today or dt.date.today()).isoformat(), "question": DESIGN_QUESTION,
            "ticked": {k: bool(ticked.get(k)) for k in RUBRIC_KEYS}, "seconds": round(float(seconds), 1)}


def _parse_design(text: str, path: Path) -> dict[str, dict]:
    try:
        state = json.loads(text)
        if not isinstance(state, dict):
            raise ValueError("top level is not an object")
        for key, v in state.items():
            dt.date.fromisoformat(v["date"])
            ticked = v["ticked"]
            if not isinstance(ticked, dict) or any(not isinstance(t, bool) for t in ticked.values()):
                raise ValueError(f"round {key!r}: ticked {ticked!r} is not a map of true/false")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScheduleError(f"{path}: not a design-round record file ({exc})") from None
    return state


class DesignRecords(LockedJsonStore):
    """Design rounds, ``{round id: record}`` (see ``design_record``), in one JSON file several notebooks
    may share. A file that cannot be read is moved aside (``set_aside`` names where) and a fresh one
    started; ``path=None`` keeps the rounds in memory only."""

    parse_state = staticmethod(_parse_design)
    SET_ASIDE_CORRUPT = True

    def __init__(self, path: Path | str | None = DEFAULT_DESIGN_RECORDS):
        super().__init__(path)

    def add(self, ticked: dict[str, bool], seconds: float, today: dt.date | None = None) -> str:
        """Save one design round; returns its id (unique, so two tabs never collide)."""
        key = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.put(key, design_record(ticked, seconds, today))
        return key
