"""Served videos on disk: unguessable names, expiry (also across a restart), a total bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.media.served import MediaFull, MediaStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def video(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x00" * size)
    return path


async def test_expired_videos_are_removed_and_survivors_kept_across_a_restart(
    tmp_path: Path,
) -> None:
    clock, root = Clock(), tmp_path / "media"
    store = MediaStore(root, "https://bot.test", ttl=3600, max_bytes=1000, clock=clock)
    store.open()
    old = await store.add(video(tmp_path, "a.mp4", 10))
    clock.now += 1800
    new = await store.add(video(tmp_path, "b.mp4", 10))
    assert old.startswith("https://bot.test/media/") and old != new
    assert not (tmp_path / "a.mp4").exists()  # moved, not copied
    clock.now += 2000  # the first has expired, the second has not
    (root / "junk.part").write_bytes(b"x")  # a move cut short by a crash
    again = MediaStore(root, "https://bot.test", ttl=3600, max_bytes=1000, clock=clock)
    again.open()
    assert again.find(old.rsplit("/", 1)[1]) is None
    assert again.find(new.rsplit("/", 1)[1]) is not None
    assert len(list(root.iterdir())) == 1
    clock.now += 3600
    assert again.purge() == 1 and list(root.iterdir()) == []


async def test_a_video_that_does_not_fit_is_refused_and_left_in_place(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "m", "https://bot.test", ttl=60, max_bytes=15, clock=Clock())
    store.open()
    await store.add(video(tmp_path, "a.mp4", 10))
    big = video(tmp_path, "b.mp4", 10)
    with pytest.raises(MediaFull):
        await store.add(big)
    assert big.exists() and store.used == 10
    assert store.find("A" * 43 + ".mp4") is None
