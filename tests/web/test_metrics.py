"""/metrics read at scrape time, parsed with prometheus-client's own parser."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tests.web.site import Served, Site

from atlas_ha.report import metrics
from atlas_ha.report.alerts import store
from atlas_ha.report.recorder import record
from atlas_ha.report.web.source import Source
from atlas_ha.sync.suspension import suspend


def scrape(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = found.setdefault(family.name, {})
        for sample in family.samples:
            samples[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_of_a_group_parse_and_follow_its_state(site: Site, page: Served) -> None:
    code, text, headers = page.get("/metrics", "bob")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    m = scrape(text)
    assert m["atlas_role"] == {(("group", "acme-office"), ("role", "PRI"), ("server", "A")): 1}
    assert m["atlas_env_version"] == {(("server", "A"),): 2}
    status = m["atlas_service_status"]
    assert status == {
        **{
            (("kind", "tcp"), ("service", "app"), ("target", t)): 0 for t in ("PRI", "SEC1", "SEC2")
        },
        # ATLAS's own cells of the status model: the sync of every row, the daemon's own
        **{
            (("kind", "atlas"), ("service", "sync"), ("target", t)): 0
            for t in ("PRI", "SEC1", "SEC2")
        },
        (("kind", "atlas"), ("service", "atlas"), ("target", "PRI")): 0,
    }
    durations = m["atlas_check_duration_seconds"]
    assert len(durations) == 3 and all(0 < d < 2 for d in durations.values())
    assert m["atlas_compare_equal"] == {(("sec", "SEC1"),): 1, (("sec", "SEC2"),): 1}
    assert m["atlas_suspended"] == {(): 0}
    last = m["atlas_last_good_cycle_timestamp_seconds"][()]
    assert last == m["atlas_last_cycle_timestamp_seconds"][()] > 1.7e9
    assert "atlas_alerts_sent" in m and sum(m["atlas_alerts_sent"].values()) == 0
    # the next scrape reads the new state: SEC1's service down, the Synchronizer suspended
    site.listeners["SEC1"].stop()
    site.verify()
    suspend(site.pri(), "metrics")
    m = scrape(page.get("/metrics", "bob")[1])
    assert m["atlas_service_status"][(("kind", "tcp"), ("service", "app"), ("target", "SEC1"))] == 2
    assert (
        m["atlas_service_status"][(("kind", "atlas"), ("service", "sync"), ("target", "PRI"))] == 1
    )
    assert m["atlas_suspended"] == {(): 1}
    assert m["atlas_go"] == {(): 0}


def test_alert_deliveries_are_counted_by_channel_and_outcome(site: Site) -> None:
    sid = site.pri().sid
    sent = {"at": 1.0, "channel": "mail", "outcome": "sent", "title": "t", "detail": ""}
    failed = {**sent, "outcome": "failed", "error": "refused"}
    store.record(sid, [sent, failed])
    store.record(sid, [{**sent, "channel": "program"}, sent])
    m = scrape(metrics.render(Source(site.pri())).decode())
    assert m["atlas_alerts_sent"] == {
        (("channel", "mail"), ("outcome", "failed")): 1,
        (("channel", "mail"), ("outcome", "sent")): 2,
        (("channel", "program"), ("outcome", "sent")): 1,
    }
    # the record keeps only the newest attempts; the counter never goes down
    store.record(sid, [sent] * (store.KEEP + 1))
    m = scrape(metrics.render(Source(site.pri())).decode())
    assert m["atlas_alerts_sent"][(("channel", "mail"), ("outcome", "sent"))] == store.KEEP + 3


def test_each_scrape_has_its_own_registry(site: Site) -> None:
    before = set(REGISTRY._names_to_collectors)
    source = Source(site.pri())
    first, second = metrics.render(source), metrics.render(source)
    assert scrape(first.decode()).keys() == scrape(second.decode()).keys()
    assert set(REGISTRY._names_to_collectors) == before  # nothing left in the global registry
    assert not any(name.startswith("atlas_") for name in before)


def test_the_last_good_cycle_outlives_a_cycle_that_found_differences(site: Site) -> None:
    pri = site.pri()
    good = json.loads(pri.sid.last_cycle_file.read_text())
    record(pri)  # the recorder remembers the last cycle that found every SEC equal
    worse = {**good, "started": good["finished"] + 60, "finished": good["finished"] + 90}
    worse["compare"] = [{**c, "state": "different"} for c in good["compare"]]
    pri.sid.last_cycle_file.write_text(json.dumps(worse))
    m = scrape(metrics.render(Source(pri)).decode())
    assert m["atlas_last_cycle_timestamp_seconds"][()] == worse["finished"]
    assert m["atlas_last_good_cycle_timestamp_seconds"][()] == good["finished"]
    assert m["atlas_compare_equal"] == {(("sec", "SEC1"),): 0, (("sec", "SEC2"),): 0}
