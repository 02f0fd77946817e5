"""Prometheus metrics (`/metrics` of the status page), read at scrape time.

A custom collector over the page's source (report/web/source.py): each scrape builds a fresh
registry holding only that collector, so no metric state lives between scrapes or tests.

    atlas_role{server,group,role}                   1 for the role this server's disk holds
    atlas_env_version{server}                       this server's EnvVersion (EnvID)
    atlas_service_status{service,target,kind}       0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    atlas_check_duration_seconds{service,target}    the newest check's duration
    atlas_check_timestamp_seconds{service,target}   when the newest check started
    atlas_compare_equal{sec}                        1 when the last compare found it equal
    atlas_last_cycle_timestamp_seconds              when the last SyncCycle finished
    atlas_last_good_cycle_timestamp_seconds         ... the last one that found all equal
                                                    (the event recorder remembers it)
    atlas_suspended                                 1 while the Synchronizer is suspended
    atlas_go                                        1 when the banner says GO
    atlas_alerts_sent_total{channel,outcome}        alert delivery attempts (report/alerts)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from atlas_ha.report.alerts import store
from atlas_ha.verifier.profile import Status

if TYPE_CHECKING:
    from atlas_ha.report.web.source import Source

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class AtlasCollector(Collector):
    def __init__(self, source: Source) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        view = self.source.overview()
        role = GaugeMetricFamily(
            "atlas_role", "The role this server's disk holds", labels=["server", "group", "role"]
        )
        if not view.error:
            role.add_metric([view.server, view.group, view.role], 1)
        yield role
        env = GaugeMetricFamily("atlas_env_version", "This server's EnvVersion", labels=["server"])
        if view.env_id is not None:
            env.add_metric([view.server], view.env_id)
        yield env
        status = GaugeMetricFamily(
            "atlas_service_status",
            "The newest check's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            labels=["service", "target", "kind"],
        )
        duration = GaugeMetricFamily(
            "atlas_check_duration_seconds",
            "How long the newest check took",
            labels=["service", "target"],
        )
        started = GaugeMetricFamily(
            "atlas_check_timestamp_seconds",
            "When the newest check started",
            labels=["service", "target"],
        )
        for cell in view.cells.values():
            if cell.status is None:
                continue
            status.add_metric([cell.service, cell.server, cell.kind], int(Status[cell.status]))
            if cell.duration is not None:
                duration.add_metric([cell.service, cell.server], cell.duration)
            if cell.started is not None:
                started.add_metric([cell.service, cell.server], cell.started)
        yield status
        yield duration
        yield started
        yield from self._cycle(view.cycle, view.last_good_cycle)
        suspended = GaugeMetricFamily("atlas_suspended", "1 while the Synchronizer is suspended")
        suspended.add_metric([], 1 if view.suspended is not None else 0)
        yield suspended
        go = GaugeMetricFamily("atlas_go", "1 when the group's banner says GO")
        go.add_metric([], 1 if view.banner.go else 0)
        yield go
        sent = CounterMetricFamily(
            "atlas_alerts_sent",
            "Alert delivery attempts by channel and outcome (sent, failed, dropped, ...)",
            labels=["channel", "outcome"],
        )
        for channel, per in sorted(store.totals(self.source.server.sid).items()):
            for outcome, count in sorted(per.items()):
                sent.add_metric([channel, outcome], count)
        yield sent

    @staticmethod
    def _cycle(cycle: dict[str, object] | None, good_at: float | None) -> Iterator[Metric]:
        equal = GaugeMetricFamily(
            "atlas_compare_equal", "1 when the last compare found the SEC equal", labels=["sec"]
        )
        last = GaugeMetricFamily(
            "atlas_last_cycle_timestamp_seconds", "When the last SyncCycle finished"
        )
        good = GaugeMetricFamily(
            "atlas_last_good_cycle_timestamp_seconds",
            "When the last SyncCycle that found every SEC equal finished",
        )
        if cycle is not None:
            secs = cycle.get("secs")
            for sec in secs if isinstance(secs, list) else []:
                equal.add_metric([sec.sec], 1 if sec.state == "equal" else 0)
            finished = cycle.get("finished")
            if isinstance(finished, int | float) and finished:
                last.add_metric([], finished)
        if good_at is not None:
            good.add_metric([], good_at)
        yield equal
        yield last
        yield good


def render(source: Source) -> bytes:
    """The text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AtlasCollector(source))
    return generate_latest(registry)
