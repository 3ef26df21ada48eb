"""Throttled, coalesced progress edits."""

import asyncio

from bot.reporter import ThrottledEditor


async def test_first_update_immediate_then_coalesced_to_newest() -> None:
    sent: list[str] = []
    first = asyncio.Event()
    done = asyncio.Event()

    async def edit(content: str) -> None:
        sent.append(content)
        first.set()
        if content == "99":
            done.set()

    editor = ThrottledEditor(edit, interval=0.05)
    editor.update("0")
    await first.wait()
    for i in range(1, 100):  # a burst: only the newest must be shown next
        editor.update(str(i))
    await asyncio.wait_for(done.wait(), 5)
    assert sent[0] == "0"
    assert sent[-1] == "99"
    assert len(sent) <= 3  # 100 updates became at most a few edits
    await editor.close()


async def test_identical_content_not_resent_and_failure_stops_edits() -> None:
    calls: list[str] = []
    failed = asyncio.Event()
    first = asyncio.Event()

    async def edit(content: str) -> None:
        calls.append(content)
        first.set()
        if content == "boom":
            failed.set()
            raise RuntimeError("404 Unknown Message")

    editor = ThrottledEditor(edit, interval=0.0)
    editor.update("a")
    await first.wait()
    editor.update("a")
    editor.update("boom")
    await failed.wait()
    task = editor._task
    assert task is not None
    await task  # the edit loop ends itself after a failed edit
    assert editor.failed
    editor.update("after")
    await editor.close()
    assert calls == ["a", "boom"]
