"""Helpers and fakes for the tests: a fake Discord, the bot harness, provider helpers."""
