"""Secrets never reach a log line, whoever logs them."""

import io
import logging

from bot.ops.logs import RedactSecrets


def test_token_and_key_redacted_in_messages_args_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets("MTIz.bot-token.value", "sk-provider-key-42"))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token=%s", "MTIz.bot-token.value")
        logger.warning("Authorization: Bearer sk-provider-key-42 failed")
        try:
            raise RuntimeError("bad key sk-provider-key-42")
        except RuntimeError:
            logger.exception("request failed")
        logger.warning("plain %d", 5)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "MTIz.bot-token.value" not in out
    assert "sk-provider-key-42" not in out
    assert out.count("***") >= 3
    assert "plain 5" in out
    assert "RuntimeError" in out  # the traceback is kept, only the secret is gone
