"""The first five minutes: ``sora-bot check`` (are the settings right?) and ``sora-bot setup``.

:mod:`~bot.onboarding.checks` runs one check per line (Discord token, application,
database, each provider) and :mod:`~bot.onboarding.wizard` asks for the settings,
checks them and writes ``.env``. :mod:`~bot.onboarding.invite` is the one place
that says which permissions the bot needs.
"""
