"""What "handled" means for each shipped incident scenario, and grading a run against it.

Criteria live in `runbooks/incidents.yaml` (validated): per scenario, the minimum SLO
attainment and the most GPU-hours (and optionally dropped requests) a planner / policy
may use. Grading is pure: totals in, pass / fail per criterion out.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gpusteward.core.cluster import ModelAccounting
from gpusteward.core.documents import load_document
from gpusteward.core.model import Frozen
from gpusteward.core.user_files import read_user_file

INCIDENTS_FILE = Path(__file__).parent / "incidents.yaml"


class Handled(Frozen):
    description: str = Field(min_length=1, description="The incident, and what handling it means.")
    min_slo_attainment: float = Field(gt=0, le=1, description="Share of requests within SLO.")
    max_gpu_hours: float = Field(gt=0, description="GPU-hours over the whole scenario.")
    max_dropped_share: float | None = Field(default=None, ge=0, le=1)


class Incidents(Frozen):
    incidents: dict[str, Handled]


class Grade(Frozen):
    run: str
    criterion: str
    value: str
    target: str
    passed: bool


def load_incidents(path: Path = INCIDENTS_FILE) -> dict[str, Handled]:
    document, _ = load_document(read_user_file(path, "incidents file"), str(path), Incidents)
    return dict(document.incidents)


def grade(run: str, totals: ModelAccounting, handled: Handled) -> list[Grade]:
    out = [
        Grade(
            run=run,
            criterion="SLO attainment",
            value=f"{totals.slo_attainment:.2%}",
            target=f">= {handled.min_slo_attainment:.2%}",
            passed=totals.slo_attainment >= handled.min_slo_attainment,
        ),
        Grade(
            run=run,
            criterion="GPU-hours",
            value=f"{totals.gpu_hours:,.1f}",
            target=f"<= {handled.max_gpu_hours:,.1f}",
            passed=totals.gpu_hours <= handled.max_gpu_hours,
        ),
    ]
    if handled.max_dropped_share is not None:
        done = totals.served + totals.dropped
        share = totals.dropped / done if done else 0.0
        out.append(
            Grade(
                run=run,
                criterion="dropped requests",
                value=f"{share:.2%}",
                target=f"<= {handled.max_dropped_share:.2%}",
                passed=share <= handled.max_dropped_share,
            )
        )
    return out
