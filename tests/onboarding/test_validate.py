"""What the wizard accepts, and the one-line reasons it gives for what it refuses."""

from __future__ import annotations

import pytest
from dotenv import dotenv_values

from bot.onboarding import validate
from bot.onboarding.envfile import quote, render
from tests.onboarding.support import TOKEN


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Bot " + TOKEN, "without 'Bot '"),
        (f'"{TOKEN}"', "without quotes"),
        ("abcdef0123456789", "not a bot token"),
        ("abc.def", "not a bot token"),
        ("a.b.c.d", "not a bot token"),
        ("abc.d+f.ghi", "not a bot token"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    problem = validate.token_problem(token)
    assert problem is not None and reason in problem


def test_a_token_shaped_token_is_accepted() -> None:
    assert validate.token_problem(TOKEN) is None
    assert validate.token_problem(f"  {TOKEN}\n") is None


@pytest.mark.parametrize(
    ("url", "protocol", "reason"),
    [
        ("api.example.com", "videos", "with its scheme"),
        ("ftp://api.example.com", "videos", "with its scheme"),
        ("https://", "videos", "with its scheme"),
        ("https://api.example.com:port", "videos", "not a valid URL"),
        ("https://user:pw@api.example.com", "videos", "credentials"),
        ("https://api.example.com/?x=1", "videos", "without ?query"),
        ("https://api.example.com/v1/videos", "videos", "only the origin"),
        ("https://openrouter.ai/api/v1", "openrouter", "only the origin"),
        ("https://openrouter.ai/v1", "openrouter", "only the origin"),
    ],
)
def test_provider_urls_must_be_origins(url: str, protocol: str, reason: str) -> None:
    problem = validate.base_url_problem(url, protocol)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("url", "protocol"),
    [
        ("https://api.example.com", "videos"),
        ("https://api.example.com/", "chat"),
        ("http://127.0.0.1:8089", "generations"),
        ("https://api.example.com/v1", "videos"),  # the settings tolerate (and drop) it
        ("https://api.example.com/v2", "generations"),
        ("https://openrouter.ai", "openrouter"),
    ],
)
def test_origins_are_accepted(url: str, protocol: str) -> None:
    assert validate.base_url_problem(url, protocol) is None


def test_protocols_keys_models_and_server_ids() -> None:
    assert validate.protocol_problem("Videos") is None
    assert "choose chat, generations, videos, openrouter" in str(validate.protocol_problem("sora"))
    assert validate.api_key_problem("sk-abc") is None
    assert "no spaces" in str(validate.api_key_problem("sk abc"))
    assert "empty" in str(validate.api_key_problem(""))
    assert "'${'" in str(validate.api_key_problem("sk-${HOME}"))
    assert validate.model_problem("google/veo-3.1") is None
    assert validate.model_problem("sora-2, sora-2-pro") is not None
    assert validate.guild_ids_problem("") is None
    assert validate.guild_ids_problem("1234, 5678") is None
    assert "not a server id" in str(validate.guild_ids_problem("1234,my-server"))


@pytest.mark.parametrize(
    "value", ["plain-Value_1.2:3/4@5", "has space", "quote'd", "back\\slash", "a#b$c"]
)
def test_written_values_read_back_unchanged(value: str) -> None:
    import io

    text = render("# a comment\nKEY=\nOTHER=kept\n", {"KEY": value, "NEW": value})
    assert text.startswith("# a comment\n")
    assert dotenv_values(stream=io.StringIO(text)) == {"KEY": value, "OTHER": "kept", "NEW": value}
    assert (quote(value) == value) is (value == "plain-Value_1.2:3/4@5")
