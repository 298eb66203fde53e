"""The Chinese words and number formats every coverage report and CLI table uses."""

from __future__ import annotations

import math

WEIGHT_TITLES = {"population_60plus": "60岁及以上人口", "population_0_17": "0–17岁人口",
                 "population": "常住人口"}
RULE_TITLES = {"radius": "服务半径", "township": "本镇街全覆盖", "district": "全区覆盖"}
COVERED_BY_TITLES = {"radius": "在服务半径内", "township": "本镇街设施", "district": "区级设施"}
STATUS_TITLES = {"met": "达标", "not met": "未达标", "no data": "无数据", "info": "参考"}
RADIUS_BY_TITLES = {"residents": "按居民所在村(社区)的城乡属性取半径(居民规则)",
                    "site": "按设施所在位置的城乡属性取半径(设施规则)"}
DECAY_TITLES = {"none": "不衰减(集水区内权重均为1)", "linear": "线性衰减(1 − 距离/集水半径)",
                "gaussian": "高斯衰减(截断高斯函数)"}
METHOD_TITLES = {"exact": "精确求解(混合整数规划)",
                 "solver incumbent": "求解器在时限内的最好可行解", "greedy": "贪心算法"}
SOLVER_STATUS_TITLES = {"optimal": "已证明最优", "time limit": "达到时间上限",
                        "not run (no time left)": "未运行求解器(时间上限已用完)",
                        "greedy": "贪心(未用求解器)"}
BOUND_TITLES = {"solver bound": "求解器界", "LP relaxation": "线性松弛上界",
                "(1 − 1/e) guarantee": "贪心 (1 − 1/e) 保证上界",
                "all reachable demand covered": "已覆盖全部可达需求",
                "nothing reachable": "无可达需求", "nothing to cover": "无需覆盖"}
ILLUSTRATIVE_NOTE_ZH = ("示意数据：本报告所用大足示例数据中的设施位置、镇街和村(社区)边界及人口"
                        "均为示意，并非实测或官方数据，不能据此作决策。")
GAP_REPORT_MIN_KM2 = 0.1  # the reports list coverage gaps of at least this area


def weight_title(weight: str) -> str:
    """The demand weight as a planner reads it (60岁及以上人口), else the column name."""
    return WEIGHT_TITLES.get(weight, weight)


def layer_title(layer: str) -> str:
    """The layer's Chinese title from the catalogue (养老服务设施), else its id."""
    from geo_service.catalog import catalogue

    try:
        return str(catalogue().layer(layer).title)
    except Exception:  # an unknown layer is shown by its id
        return layer


def distance_title(model_name: str) -> str:
    """The distance model in Chinese (straight line on the Gauss-Krüger plane, or as named)."""
    if model_name.startswith("planar EPSG:4544"):
        return "直线距离(CGCS2000 高斯-克吕格 3 度带投影 EPSG:4544，中央经线 105°E)，非道路距离"
    if model_name.startswith("road network, walk"):
        return "沿道路网的最短步行时间(路段长度在 EPSG:4544 上计算)"
    if model_name.startswith("road network, drive"):
        return "沿道路网的最短驾车时间(按道路等级车速，路段长度在 EPSG:4544 上计算)"
    return model_name


def pct(num: float | None, den: float | None = 1.0, digits: int = 1) -> str:
    """num/den as a percentage rounded once from the exact ratio ("—" when undefined)."""
    if num is None or not den or (isinstance(num, float) and math.isnan(num)):
        return "—"
    return f"{num / den * 100:.{digits}f}%"


def metres(value: float | None) -> str:
    """A distance to the metre ("—" when there is none)."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.0f}"


def yes_no(value: object) -> str:
    """是 / 否."""
    return "是" if bool(value) else "否"


def whole(value: float | None) -> int | None:
    """A count (beds, residents) as an integer."""
    return None if value is None or not math.isfinite(value) else round(value)


def solution_text(sol: dict) -> str:
    """One Chinese sentence on how a suggestion was found and how close it is to the optimum."""
    method = METHOD_TITLES.get(sol["method"], sol["method"])
    status = SOLVER_STATUS_TITLES.get(sol["status"], sol["status"])
    solver = f"，求解器 {sol['solver']}" if sol.get("solver") else ""
    gap = sol.get("gap")
    if sol["status"] == "optimal" and sol["method"] == "exact":
        return f"{method}{solver}，已证明最优；用时 {sol['seconds']:.2f} 秒"
    if gap is None:
        close = "，无可用界"
    else:
        bound = BOUND_TITLES.get(sol.get("bound") or "", sol.get("bound") or "界")
        close = f"，与{bound}相差不超过 {gap * 100:.1f}%"
    return f"{method}({status}{solver}){close}；用时 {sol['seconds']:.2f} 秒"
