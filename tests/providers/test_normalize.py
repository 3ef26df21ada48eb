"""The pure readers of loosely typed task-API answers, and the progress filter."""

from __future__ import annotations

from typing import Any

import pytest

from bot.providers.base import Completed, Event, Progress, Queued
from bot.providers.normalize import (
    find_task_id,
    find_video_url,
    normalize_status,
    ordered_models,
    parse_percent,
    parse_timestamp,
    unwrap_envelope,
)
from bot.providers.polling import ProgressFilter

URL = "https://cdn.example/v/x.mp4"


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("NOT_START", "queued"),
        ("SUBMITTED", "queued"),
        ("QUEUED", "queued"),
        ("pending", "queued"),
        ("IN_PROGRESS", "running"),
        ("in_progress", "running"),
        ("In Progress", "running"),
        ("in-progress", "running"),
        ("processing", "running"),
        ("Running", "running"),
        ("SUCCESS", "succeeded"),
        ("succeeded", "succeeded"),
        ("completed", "succeeded"),
        ("complete", "succeeded"),
        ("done", "succeeded"),
        (" success ", "succeeded"),
        ("FAILURE", "failed"),
        ("failed", "failed"),
        ("error", "failed"),
        ("cancelled", "cancelled"),
        ("CANCELED", "cancelled"),
    ],
)
def test_status_values_and_synonyms(value: str, state: str) -> None:
    assert normalize_status(value) == state


@pytest.mark.parametrize("value", ["WARMING_UP", "", None, 3, ["queued"], {"status": "queued"}])
def test_unknown_status_is_none(value: object) -> None:
    assert normalize_status(value) is None


@pytest.mark.parametrize(
    ("value", "percent"),
    [
        ("36%", 36.0),
        (" 36 % ", 36.0),
        ("36.5%", 36.5),
        (36, 36.0),
        (36.5, 36.5),
        ("36", 36.0),
        ("0.36", 0.36),  # always a percentage, never a fraction (see the docstring)
        (0, 0.0),
        ("100%", 100.0),
        (150, 100.0),
    ],
)
def test_percent(value: object, percent: float) -> None:
    assert parse_percent(value) == percent


@pytest.mark.parametrize(
    "value", [None, "", "abc", "36%%", "-5", -5, float("nan"), True, [36], "1e3", "36 percent"]
)
def test_percent_garbage_is_none(value: object) -> None:
    assert parse_percent(value) is None


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        (1716192124, 1716192124.0),
        (1716192124.5, 1716192124.5),
        ("1716192124", 1716192124.0),
        (" 1766556441 ", 1766556441.0),
        (1716192124000, 1716192124.0),  # milliseconds
        ("2024-05-20T08:02:04Z", 1716192124.0),
        ("2024-05-20T08:02:04+00:00", 1716192124.0),
        ("2024-05-20T10:02:04+02:00", 1716192124.0),
        ("2024-05-20T08:02:04", 1716192124.0),  # no zone: UTC
    ],
)
def test_timestamp(value: object, epoch: float) -> None:
    assert parse_timestamp(value) == pytest.approx(epoch)


@pytest.mark.parametrize("value", [None, 0, "0", -1, "", "yesterday", True, float("inf"), {}])
def test_timestamp_unset_or_garbage_is_none(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(
    "obj",
    [
        {"data": {"output": URL}},
        {"data": {"outputs": [URL, "https://other/y.mp4"]}},
        {"data": {"outputs": ["", URL]}},
        {"output": URL},
        {"outputs": [URL]},
        {"video_url": URL},
        {"url": URL},
        {"soraVideoUrl": URL, "url": "https://worse/z.mp4"},
        {"result": {"url": URL}},
        {"data": [{"url": URL}]},
        {"data": None, "output": f"  {URL}  "},
    ],
)
def test_find_video_url(obj: dict[str, Any]) -> None:
    assert find_video_url(obj) == URL


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"data": None},
        {"url": "/relative/x.mp4"},
        {"output": "data:video/mp4;base64,AAAA"},
        {"video_url": "ftp://host/x.mp4"},
        {"data": {"output": 42}},
        "https://not-an-object/x.mp4",
        None,
    ],
)
def test_find_video_url_needs_http(obj: object) -> None:
    assert find_video_url(obj) is None


@pytest.mark.parametrize(
    ("obj", "task_id"),
    [
        ({"task_id": "f0aa213c"}, "f0aa213c"),
        ({"id": "video_68d7"}, "video_68d7"),
        ({"data": {"task_id": "abc"}}, "abc"),
        ({"data": {"id": 12345}}, "12345"),
        ({"task_id": "", "id": " x "}, "x"),
        ({"task_id": None}, None),
        ({"id": True}, None),
        ([], None),
    ],
)
def test_find_task_id(obj: object, task_id: str | None) -> None:
    assert find_task_id(obj) == task_id


def test_ordered_models_default_first_without_repeats() -> None:
    fallback = ("sora-2", "sora-2-pro")
    assert ordered_models("sora-2", (), fallback) == ("sora-2", "sora-2-pro")
    assert ordered_models("sora-2-pro", (), fallback) == ("sora-2-pro", "sora-2")
    assert ordered_models("x", ("a", "x", "b"), fallback) == ("x", "a", "b")


def test_progress_filter_never_goes_back_and_drops_repeats() -> None:
    progress = ProgressFilter()
    events: list[Event] = [
        Queued("queued"),
        Queued("queued"),
        Progress(10, "in_progress"),
        Progress(10, "in_progress"),
        Progress(5, "in_progress"),
        Progress(None, "in_progress"),
        Queued("queued"),
        Progress(40, "in_progress"),
        Progress(40, "processing"),
    ]
    admitted = [progress.admit(event) for event in events]
    assert admitted == [
        Queued("queued"),
        None,
        Progress(10, "in_progress"),
        None,
        None,
        None,
        None,
        Progress(40, "in_progress"),
        Progress(40, "processing"),
    ]


def test_progress_filter_keeps_percent_when_a_poll_has_none() -> None:
    progress = ProgressFilter()
    assert progress.admit(Progress(30, "a")) == Progress(30, "a")
    assert progress.admit(Progress(None, "b")) == Progress(30, "b")
    assert progress.admit(Completed(url=URL)) == Completed(url=URL)


def test_unwrap_envelope() -> None:
    task = {"status": "SUCCESS", "data": {"output": URL}}
    assert unwrap_envelope({"code": 0, "data": task}) is task
    assert unwrap_envelope(task) is task  # already a task: its data is the result, not a task
    plain = {"code": 0, "data": [1]}
    assert unwrap_envelope(plain) is plain
