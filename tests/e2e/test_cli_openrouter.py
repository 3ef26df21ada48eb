"""`sora-bot generate` on the openrouter protocol: a real subprocess against the fake OpenRouter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.fake_provider import SAMPLE_VIDEO, FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.cli import Result, phone_photo, sora_bot

KEY = "sk-or-cli-test-key-424242"
SUBMIT = "/api/v1/videos"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A phone-sized photo: not the size any provider wants."""
    return phone_photo(tmp_path / "photo.jpg")


async def generate(base_url: str, *args: str, cwd: Path, **env: str) -> Result:
    settings = {
        "PROVIDER_PROTOCOL": "openrouter",
        "PROVIDER_BASE_URL": base_url,
        "PROVIDER_API_KEY": KEY,
        # This protocol polls every 10-30 s by default; the fake renders in milliseconds.
        "PROVIDER_POLL_INTERVAL": "0.02",
        "PROVIDER_POLL_MAX_INTERVAL": "0.05",
        "PROVIDER_RETRY_BACKOFF": "0.01",
    }
    return await sora_bot("generate", *args, cwd=cwd, env={**settings, **env})


def fast(**knobs: Any) -> Scenario:
    return Scenario(api_key=KEY, steps=3, step_delay=0.02, **knobs)


def submitted(fake: FakeProvider) -> dict[str, Any]:
    entries = [r for r in fake.recorder.requests if r["method"] == "POST" and r["path"] == SUBMIT]
    assert len(entries) == 1
    return entries[0]


async def test_wrong_size_photo_becomes_a_video(photo: Path, tmp_path: Path) -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        result = await generate(
            fake.url + "/api/v1", "--image", str(photo), "--prompt", "waves roll in", cwd=tmp_path
        )
    assert result.code == 0, result.stderr
    assert result.last_out.startswith(fake.url + "/files/") and ".mp4?" in result.last_out
    entry = submitted(fake)
    assert entry["frame_size"] == (720, 1280)  # fitted to portrait 9:16
    assert entry["json"]["model"] == "google/veo-3.1"  # this protocol's default model
    # The catalogue was read first: its shortest duration, its 720p step.
    assert fake.recorder.count("GET", SUBMIT + "/models") == 1
    assert entry["json"]["duration"] == 4 and entry["json"]["aspect_ratio"] == "9:16"
    assert entry["json"]["resolution"] == "720p"
    assert KEY not in result.stderr + result.stdout


async def test_content_download_to_a_file(photo: Path, tmp_path: Path) -> None:
    async with FakeProvider("openrouter", fast(no_signed_urls=True)) as fake:
        result = await generate(
            fake.url, "--image", str(photo), "--prompt", "x", "--orientation", "landscape",
            "--output", "clip.mp4", cwd=tmp_path,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.last_out == "clip.mp4"
    assert (tmp_path / "clip.mp4").read_bytes() == SAMPLE_VIDEO.read_bytes()
    assert submitted(fake)["frame_size"] == (1280, 720)


async def test_refused_duration_is_one_clear_line(photo: Path, tmp_path: Path) -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        result = await generate(
            fake.url, "--image", str(photo), "--prompt", "x", "--orientation", "landscape",
            "--duration", "8", cwd=tmp_path, PROVIDER_MODEL="acme/widescreen",
        )  # fmt: skip
    assert result.code == 1 and result.stdout == ""
    assert result.last_err.startswith("error: ")
    # The catalogue says what the model makes: refused before anything is sent.
    assert "acme/widescreen cannot make 8s videos; choose one of: 5s, 10s" in result.last_err
    assert "Traceback" not in result.stderr
    assert fake.recorder.submissions == 0
