"""LOG_FORMAT=json: one parseable object per line, the job id on lines about a job, no secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

from bot.ops.logs import JobLogAdapter, bind_job, job_context, make_handler
from tests.support.harness import KEY, running_world
from tests.support.operator import video

SECRETS = ("MTIz.bot-token.value", "sk-provider-key-42")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_fields_job_id_and_hide_secrets() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.json")
    logger.addHandler(make_handler(*SECRETS, json_format=True, stream=stream))
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("plain %d", 5)
        with job_context(42):
            logger.warning("token=%s", SECRETS[0])
            try:
                raise RuntimeError(f"bad key {SECRETS[1]}\nsecond line")
            except RuntimeError:
                logger.exception("request failed")
        JobLogAdapter(logger, 7).info("via the adapter")
        logger.debug("after the context")
    finally:
        logger.handlers.clear()
    out = lines(stream)
    assert [o["message"] for o in out] == [
        "plain 5",
        "token=***",
        "request failed",
        "via the adapter",
        "after the context",
    ]
    assert [o.get("job_id") for o in out] == [None, 42, 42, 7, None]
    assert out[0]["level"] == "info" and out[0]["logger"] == "test.json"
    assert str(out[0]["time"]).endswith("+00:00")
    assert "RuntimeError" in str(out[2]["exception"])
    assert not any(secret in stream.getvalue() for secret in SECRETS)


async def test_bind_job_reaches_tasks_created_afterwards() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.json.tasks")
    logger.addHandler(make_handler(json_format=True, stream=stream))
    logger.propagate = False
    logger.setLevel(logging.INFO)

    async def job_task() -> None:
        logger.info("inside the job's task")

    async def handler() -> None:
        bind_job(9)
        await asyncio.create_task(job_task())

    try:
        await asyncio.create_task(handler())
        logger.info("elsewhere")
    finally:
        logger.handlers.clear()
    assert [(o["message"], o.get("job_id")) for o in lines(stream)] == [
        ("inside the job's task", 9),
        ("elsewhere", None),
    ]


async def test_a_real_job_logs_json_with_its_id(tmp_path: Path) -> None:
    stream = io.StringIO()
    async with running_world(tmp_path) as world:
        handler = make_handler(KEY, world.discord.token, json_format=True, stream=stream)
        logging.getLogger().addHandler(handler)
        try:
            async with world.bot() as app:
                ix = await video(app)
                assert "✅" in await app.finished(ix)
                job = (await app.store.recent_jobs(world.discord.user.id))[0]
        finally:
            logging.getLogger().removeHandler(handler)
    out = lines(stream)  # every line parses
    about_job = [o for o in out if o["message"] == f"job {job.id} completed"]
    assert about_job and all(o.get("job_id") == job.id for o in about_job)
    accepted = [o for o in out if o["message"] == f"job {job.id} accepted for user {job.user_id}"]
    assert accepted and accepted[0].get("job_id") == job.id
    assert KEY not in stream.getvalue() and world.discord.token not in stream.getvalue()
