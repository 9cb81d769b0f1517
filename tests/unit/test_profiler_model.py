"""The profile model: the seed's checkpoints and modules, the export, partial profiles."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from stateward.config import ConfigError, load_settings
from stateward.profiler.model import (
    CHECKPOINTS,
    MODULES,
    NAMES,
    Profile,
    module_of_step,
)

T0 = 1_795_306_991.0
# ms from T00 for T00..T10: the monitor is the slowest, then the inspector.
OFFSETS_MS = [0, 50, 58, 66, 70, 75, 80, 81, 83, 90, 92]


def complete_profile(trace_id: str = "trace-1") -> Profile:
    profile = Profile(trace_id)
    for name, ms in zip(NAMES, OFFSETS_MS, strict=True):
        profile.add(name, T0 + ms / 1000)
    return profile


def test_catalogue_is_the_seed_timeline() -> None:
    assert [c.name for c in CHECKPOINTS] == [f"T{i:02d}" for i in range(11)]
    assert [c.label for c in CHECKPOINTS] == [
        "host down",
        "raw failure",
        "found affected",
        "marked host down",
        "set VM error",
        "notified VM error",
        "transformed event",
        "evaluated event",
        "fired alarm",
        "received alarm",
        "handled alarm",
    ]
    assert [m.name for m in MODULES] == [
        "monitor",
        "inspector",
        "controller",
        "notifier",
        "evaluator",
        "consumer",
    ]


def test_modules_tile_the_timeline() -> None:
    """Each step T(n-1)->T(n) belongs to exactly one module; modules are contiguous."""
    assert MODULES[0].start == "T00" and MODULES[-1].end == "T10"
    for previous, module in itertools.pairwise(MODULES):
        assert previous.end == module.start
    owners = [module_of_step(name).name for name in NAMES[1:]]
    assert owners == [
        "monitor",
        "inspector",
        "inspector",
        "controller",
        "notifier",
        "evaluator",
        "evaluator",
        "evaluator",
        "consumer",
        "consumer",
    ]


def test_export_has_checkpoints_in_ms_from_t00_and_module_spans() -> None:
    export = complete_profile().to_export()
    json.dumps(export)  # serialisable as is
    assert [export[name] for name in NAMES] == [float(ms) for ms in OFFSETS_MS]
    assert export["M00"] == 50.0  # monitor T00->T01
    assert export["M01"] == 16.0  # inspector T01->T03
    assert export["M02"] == 4.0  # controller T03->T04
    assert export["M03"] == 5.0  # notifier T04->T05
    assert export["M04"] == 8.0  # evaluator T05->T08
    assert export["M05"] == 9.0  # consumer T08->T10
    assert sum(export[m.id] for m in MODULES) == export["total_ms"] == 92.0
    assert export["complete"] is True
    assert export["missing"] == [] and export["problems"] == []
    assert [c["name"] for c in export["checkpoints"]] == list(NAMES)
    assert export["started_at"].startswith("2026-11-22T")


def test_components_sorted_by_time_cost_with_percentages() -> None:
    spans = complete_profile().by_cost()
    assert [s.module.name for s in spans] == [
        "monitor",
        "inspector",
        "consumer",
        "evaluator",
        "notifier",
        "controller",
    ]
    assert spans[0].percent == 54.3
    assert round(sum(s.percent or 0 for s in spans)) == 100


def test_missing_checkpoints_are_reported_not_fatal() -> None:
    profile = Profile("partial")
    profile.add("T01", T0)
    profile.add("T02", T0 + 0.004)
    profile.add("T03", T0 + 0.010)
    export = profile.to_export()
    assert export["T00"] is None and export["T01"] == 0.0 and export["T03"] == 10.0
    assert export["M01"] == 10.0 and export["M00"] is None and export["M05"] is None
    assert export["complete"] is False
    assert export["missing"] == ["T00", "T04", "T05", "T06", "T07", "T08", "T09", "T10"]
    assert any("T00 (host down) missing" in p for p in export["problems"])


def test_empty_profile_exports() -> None:
    export = Profile("empty").to_export()
    assert export["total_ms"] is None and export["T00"] is None
    assert export["problems"] == ["no checkpoint recorded"]


def test_out_of_order_checkpoints_are_reported() -> None:
    profile = complete_profile()
    late = Profile("skewed")
    for name, t in profile.checkpoints.items():
        late.add(name, t + (0.010 if name == "T03" else 0))  # T03 after T04 by 6 ms
    problems = late.problems()
    assert any(p.startswith("T04 (set VM error) is 6.000 ms before T03") for p in problems)


def test_first_time_wins_and_bad_input_is_ignored() -> None:
    profile = Profile("p")
    assert profile.add("T02", T0 + 1) is True
    assert profile.add("T02", T0 + 2) is False
    assert profile.add("T11", T0) is False
    assert profile.add("T03", float("nan")) is False
    assert profile.add("T04", True) is False  # type: ignore[arg-type]
    assert profile.checkpoints == {"T02": T0 + 1}
    assert any("T11" in p for p in profile.problems())


def test_export_round_trip() -> None:
    original = complete_profile()
    original.checkpoint_meta["T02"] = {"vms": 50}
    copy = Profile.from_export(json.loads(json.dumps(original.to_export())))
    assert copy.checkpoints == original.checkpoints
    assert copy.to_export()["checkpoints"][2]["meta"] == {"vms": 50}


def test_profiler_config_validates_and_refuses_unknown_keys(tmp_path: Path) -> None:

    settings = load_settings(state_dir=tmp_path, **{"profiler.flush_interval": 0.2})
    assert settings.profiler.flush_interval == 0.2 and settings.profiler.record is True
    with pytest.raises(ConfigError, match=r"profiler\.batch_size"):
        load_settings(state_dir=tmp_path, **{"profiler.batch_size": 0})
    with pytest.raises(ConfigError, match=r"profiler\.flush"):
        load_settings(state_dir=tmp_path, **{"profiler.flush": 1})
