"""The sentry's judgement of what a partner answers (the answer is untrusted input)."""

from __future__ import annotations

import pytest

from atlas_ha.model import MasterConfig, Partner
from atlas_ha.verifier.api import Target
from atlas_ha.verifier.kinds.sentry import judge_answer, profile_of
from atlas_ha.verifier.kinds.sentry_self import Findings
from atlas_ha.verifier.profile import Status

PRI = MasterConfig("acme", "PRI", {"SEC1": Partner("192.0.2.12")})
SEC1 = MasterConfig("acme", "SEC1", {"PRI": Partner("192.0.2.11")})


@pytest.mark.parametrize(
    ("master", "target_role", "answered", "status", "text"),
    [
        (PRI, "SEC1", {"role": "SEC1", "group": "acme"}, Status.OK, "answers as SEC1"),
        (PRI, "SEC1", {"role": "PRI", "group": "acme"}, Status.CRITICAL, "two servers claim PRI"),
        (SEC1, "PRI", {"role": "SEC2", "group": "acme"}, Status.CRITICAL, "holding SEC2"),
        (SEC1, "PRI", {"role": "PRI", "group": "other"}, Status.CRITICAL, "group 'other'"),
        (PRI, "SEC1", {"role": "root; rm -rf /", "group": "acme"}, Status.CRITICAL, "malformed"),
        (PRI, "SEC1", {"role": ["SEC1"], "group": "acme"}, Status.CRITICAL, "malformed"),
    ],
)
def test_answers(
    master: MasterConfig, target_role: str, answered: dict[str, object], status: Status, text: str
) -> None:
    found = Findings()
    target = Target(role=target_role, address="192.0.2.12")
    judge_answer(master, target, "192.0.2.12", answered, answered.get("role"), found)
    profile = profile_of(found, f"answers as {target_role}")
    assert profile.status is status and text in profile.summary, profile.summary
