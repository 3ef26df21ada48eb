"""A downloaded video goes from the provider to Discord through one temporary file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bot.fake_provider import SAMPLE_VIDEO
from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, running_app


async def test_videos_content_is_streamed_to_disk_uploaded_and_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the bot's temp files go
    scenario = Scenario(api_key=KEY, steps=3, step_delay=0.05)  # no public URL: /content
    async with running_app(tmp_path, "videos", scenario) as app:
        ix = await app.video()
        content = await app.finished(ix)
        assert "✅" in content
        assert ix.original is not None
        files = ix.original.attachments
        assert len(files) == 1 and files[0].data == SAMPLE_VIDEO.read_bytes()
        assert app.provider.recorder.count("GET", "/v1/videos/") >= 2  # polls and /content
    assert list(scratch.iterdir()) == []  # neither the download nor the upload copy is left
