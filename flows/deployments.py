"""Scheduled runs: the one place where schedules, parameters and concurrency limits live.

Two deployments, each a small flow that works out what to score from its scheduled time and
calls the `score-edition` flow as a subflow:

- `scheduled-edition/annual-edition`: on 1 June, score the data year before (a run
  scheduled for 2019-06-01 scores edition 2018, the year the June 2019 evaluation scored);
- `trade-refresh/monthly-trade-refresh`: on the 5th of every month, republish the provisional
  edition of the month before (the run of 2019-03-05 covers February 2019 and republishes
  edition 2019; the run of 5 January covers December and republishes the previous year's).

`DEPLOYMENTS` below defines them for `coopindex serve` (no work pool: `serve_deployments`,
supervised by flows/serve.py); `prefect.yaml` repeats them for a Prefect server with a process work pool, and
`tests/test_deployments.py` checks that the two agree.

Times are read in the schedules' time zone (Asia/Shanghai): Prefect reports a run scheduled
for 2019-06-01 06:00 in Shanghai as 2019-05-31 22:00 UTC, which is still the 2019 run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer
from prefect import flow, get_run_logger

from flows.edition import score_edition

TIMEZONE = "Asia/Shanghai"

# Deployment name -> flow (the function in this module), schedule, parameters, limits. A
# scheduled run passes no parameters: the flow works out edition and month from the time.
DEPLOYMENTS: dict[str, dict[str, Any]] = {
    "annual-edition": {
        "flow": "scheduled_edition",
        "cron": "0 6 1 6 *",  # 06:00 on 1 June
        "timezone": TIMEZONE,
        "parameters": {},
        "concurrency_limit": 1,  # one run of this deployment at a time; the next one waits
        "tags": ["coopindex", "annual"],
        "description": "Score and publish the previous data year's edition (scheduled year - 1).",
    },
    "monthly-trade-refresh": {
        "flow": "trade_refresh",
        "cron": "0 7 5 * *",  # 07:00 on the 5th of every month
        "timezone": TIMEZONE,
        "parameters": {},
        "concurrency_limit": 1,
        "tags": ["coopindex", "monthly"],
        "description": "Republish the provisional edition of the year of the month before the run.",
    },
}

Kind = Literal["annual", "monthly"]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def edition_for(scheduled: datetime, kind: Kind) -> tuple[int, int | None]:
    """(edition, month) a run scheduled at `scheduled` works on; month is None for annual runs.

    The time is read in the schedules' time zone (a naive time is taken to be in it):
    - annual: the data year before the scheduled year; 2019-06-01 -> (2018, None);
    - monthly: the calendar month before the scheduled date and that month's year as the
      edition; 2019-03-05 -> (2019, 2), and 2019-01-05 -> (2018, 12): the January refresh
      completes December, so it republishes the previous year's edition.
    """
    zone = ZoneInfo(TIMEZONE)
    local = scheduled.replace(tzinfo=zone) if scheduled.tzinfo is None else scheduled.astimezone(zone)
    if kind == "annual":
        return local.year - 1, None
    if kind == "monthly":
        return (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    raise ValueError(f"unknown schedule kind {kind!r}: expected 'annual' or 'monthly'")


def _scheduled_time() -> datetime:
    """The running flow's scheduled start time (now for a run triggered by hand or called directly)."""
    from prefect.runtime import flow_run

    return flow_run.scheduled_start_time


def _annual_target(edition: int | None) -> int:
    return edition if edition is not None else edition_for(_scheduled_time(), "annual")[0]


def _monthly_target(month: str | None) -> tuple[int, int]:
    if month is None:
        edition, number = edition_for(_scheduled_time(), "monthly")
        return edition, number  # type: ignore[return-value]
    found = _MONTH.match(month)
    if not found or not 1 <= int(found[2]) <= 12:
        raise ValueError(f"month must look like 2019-02, not {month!r}")
    return int(found[1]), int(found[2])


def _annual_run_name() -> str:
    from prefect.runtime import flow_run

    return f"annual-edition-{_annual_target(flow_run.parameters.get('edition'))}"


def _monthly_run_name() -> str:
    from prefect.runtime import flow_run

    try:
        year, month = _monthly_target(flow_run.parameters.get("month"))
    except ValueError:
        return "trade-refresh"  # the flow itself then fails with the message
    return f"trade-{year}-{month:02d}"


@flow(name="scheduled-edition", flow_run_name=_annual_run_name, log_prints=True)
def scheduled_edition(
    edition: int | None = None,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
) -> dict[str, Any]:
    """Score and publish `edition`; without it, the data year before the scheduled year."""
    target = _annual_target(edition)
    how = "given" if edition is not None else f"from the scheduled time {_scheduled_time().isoformat()}"
    get_run_logger().info("annual run: edition %s (%s)", target, how)
    return score_edition(target, raw_dir=raw_dir, warehouse_dir=warehouse_dir, config_dir=config_dir)


@flow(name="trade-refresh", flow_run_name=_monthly_run_name, log_prints=True)
def trade_refresh(
    month: str | None = None,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
) -> dict[str, Any]:
    """Republish the provisional edition of `month` ("YYYY-MM"); without it, the month before the run."""
    edition, number = _monthly_target(month)
    get_run_logger().info(
        "monthly trade refresh: month %s-%02d, republishing provisional edition %s", edition, number, edition
    )
    summary = score_edition(edition, raw_dir=raw_dir, warehouse_dir=warehouse_dir, config_dir=config_dir)
    return summary | {"month": f"{edition}-{number:02d}"}


FLOWS = {"scheduled_edition": scheduled_edition, "trade_refresh": trade_refresh}


def runner_deployments() -> list:
    """The deployments of `DEPLOYMENTS` as Prefect RunnerDeployments, ready for `prefect.serve`."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    return [
        FLOWS[spec["flow"]].to_deployment(
            name=name,
            schedule=Cron(spec["cron"], timezone=spec["timezone"]),
            parameters=spec["parameters"],
            # ENQUEUE: a run that finds the slot taken waits for it (AwaitingConcurrencySlot).
            concurrency_limit=ConcurrencyLimitConfig(
                limit=spec["concurrency_limit"], collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            tags=spec["tags"],
            description=spec["description"],
            # Loaded by module name, so `coopindex serve` works from any directory.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for name, spec in DEPLOYMENTS.items()
    ]


Limit = Annotated[int, typer.Option(help="At most this many flow runs at once in this process.")]


def serve_deployments(limit: Limit = 2) -> None:
    """Prefect's runner of the deployments, against PREFECT_API_URL, until SIGTERM.

    `coopindex serve` (flows/serve.py) runs this in a child process and stops it; on SIGTERM
    Prefect's runner cancels its flow runs and pauses the schedules before it exits.
    """
    from prefect import serve

    serve(*runner_deployments(), limit=limit)


if __name__ == "__main__":
    # Import by name: the deployments' entrypoints must say flows.deployments, not __main__.
    from flows.deployments import serve_deployments as command

    typer.run(command)
