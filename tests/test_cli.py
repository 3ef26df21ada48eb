"""`sora-bot generate` as an operator runs it: a real subprocess against the fake provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.cli import Result, phone_photo, sora_bot

KEY = "sk-cli-test-key-000111"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A phone-sized photo: not the size any provider wants."""
    return phone_photo(tmp_path / "photo.jpg")


async def generate(
    base_url: str, protocol: str, *args: str, cwd: Path, key: str = KEY, **env: str
) -> Result:
    settings = {
        "PROVIDER_PROTOCOL": protocol,
        "PROVIDER_BASE_URL": base_url,
        "PROVIDER_API_KEY": key,
        "PROVIDER_POLL_INTERVAL": "0.02",
        "PROVIDER_RETRY_BACKOFF": "0.01",
    }
    return await sora_bot("generate", *args, cwd=cwd, env={**settings, **env})


def fast(**knobs: object) -> Scenario:
    return Scenario(api_key=KEY, steps=3, step_delay=0.02, **knobs)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["chat", "generations", "videos"])
async def test_success_prints_url_last(protocol: str, photo: Path, tmp_path: Path) -> None:
    async with FakeProvider(protocol, fast(sora_video_url=True)) as fake:
        result = await generate(
            fake.url + "/v1", protocol, "--image", str(photo), "--prompt", "waves", cwd=tmp_path
        )
    assert result.code == 0, result.stderr
    assert result.last_out.startswith(fake.url + "/files/")
    assert result.last_out.endswith(".mp4")
    assert "%" in result.stderr and "100%" in result.stderr
    assert fake.recorder.submissions == 1


async def test_bytes_only_result_is_saved(photo: Path, tmp_path: Path) -> None:
    async with FakeProvider("videos", fast()) as fake:
        result = await generate(
            fake.url, "videos", "--image", str(photo), "--prompt", "x", "--duration", "8",
            "--orientation", "landscape", cwd=tmp_path,
        )  # fmt: skip
        form = next(r for r in fake.recorder.requests if r["method"] == "POST")["form"]
    assert result.code == 0, result.stderr
    saved = tmp_path / result.last_out
    assert saved.suffix == ".mp4"
    assert saved.read_bytes()[4:8] == b"ftyp"
    assert form["size"] == "1280x720" and form["seconds"] == "8"


async def test_output_flag_downloads_the_url(photo: Path, tmp_path: Path) -> None:
    async with FakeProvider("generations", fast()) as fake:
        result = await generate(
            fake.url, "generations", "--image", str(photo), "--prompt", "x",
            "--output", "clip.mp4", cwd=tmp_path,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.last_out == "clip.mp4"
    assert (tmp_path / "clip.mp4").read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize(
    ("knobs", "key", "reason"),
    [
        ({}, "sk-wrong-key-999", "rejected the API key"),
        ({"insufficient_balance": True}, KEY, "insufficient balance"),
        ({"fail_at": 60}, KEY, "refused the content"),
        ({"error_forever": 500}, KEY, "busy or unreachable"),
    ],
)
async def test_failures_exit_nonzero_with_one_line(
    knobs: dict[str, object], key: str, reason: str, photo: Path, tmp_path: Path
) -> None:
    async with FakeProvider("generations", fast(**knobs)) as fake:
        result = await generate(
            fake.url, "generations", "--image", str(photo), "--prompt", "x", cwd=tmp_path, key=key
        )
    assert result.code == 1
    assert result.stdout == ""
    assert result.last_err.startswith("error: ")
    assert reason in result.last_err
    assert "Traceback" not in result.stderr
    assert key not in result.stderr


async def test_bad_input_and_missing_setting(photo: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not really a picture")
    async with FakeProvider("videos", fast()) as fake:
        not_image = await generate(
            fake.url, "videos", "--image", str(text), "--prompt", "x", cwd=tmp_path
        )
        bad_duration = await generate(
            fake.url, "videos", "--image", str(photo), "--prompt", "x", "--duration", "10",
            cwd=tmp_path,
        )  # fmt: skip
        missing = await generate("", "videos", "--image", str(photo), "--prompt", "x", cwd=tmp_path)
        assert fake.recorder.submissions == 0
    assert not_image.code == 1 and "not an image" in not_image.last_err
    assert bad_duration.code == 1 and "4s, 8s, 12s" in bad_duration.last_err
    assert missing.code == 2 and "PROVIDER_BASE_URL" in missing.last_err
    assert not_image.stdout == bad_duration.stdout == missing.stdout == ""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.part"))


def head(path: Path) -> bytes:
    return path.read_bytes()[4:8]


async def test_output_directory_saves_inside_it(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "videos"
    out.mkdir()
    async with FakeProvider("generations", fast()) as fake:
        result = await generate(
            fake.url, "generations", "--image", str(photo), "--prompt", "x",
            "--output", str(out), cwd=tmp_path,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    task = result.stderr.split("submitted: task ", 1)[1].split()[0]
    saved = Path(result.last_out)
    assert saved == out / f"sora-{task}.mp4"
    assert head(saved) == b"ftyp"
    assert leftovers(tmp_path) == []


async def test_existing_output_is_refused_unless_forced(photo: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"keep me")
    async with FakeProvider("generations", fast()) as fake:
        refused = await generate(
            fake.url, "generations", "--image", str(photo), "--prompt", "x",
            "--output", "clip.mp4", cwd=tmp_path,
        )  # fmt: skip
        assert fake.recorder.submissions == 0  # refused before anything was spent
        forced = await generate(
            fake.url, "generations", "--image", str(photo), "--prompt", "x",
            "--output", "clip.mp4", "--force", cwd=tmp_path,
        )  # fmt: skip
    assert refused.code == 1 and refused.stdout == ""
    assert "already exists" in refused.last_err and "--force" in refused.last_err
    assert forced.code == 0, forced.stderr
    assert clip.read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize(
    ("protocol", "knobs", "reason"),
    [
        ("generations", {"expired_files": 404}, "expired"),  # the download fails
        ("videos", {"expired_content": True}, ""),  # the provider's own fetch fails
        ("generations", {"fail_at": 60}, "refused the content"),  # no video at all
    ],
)
async def test_no_partial_file_on_failure(
    protocol: str, knobs: dict[str, object], reason: str, photo: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the old video")
    async with FakeProvider(protocol, fast(**knobs)) as fake:
        result = await generate(
            fake.url, protocol, "--image", str(photo), "--prompt", "x",
            "--output", "clip.mp4", "--force", cwd=tmp_path,
        )  # fmt: skip
    assert result.code == 1 and result.stdout == ""
    assert reason in result.last_err
    assert leftovers(tmp_path) == []
    assert clip.read_bytes() == b"the old video"  # replaced only by a whole video
