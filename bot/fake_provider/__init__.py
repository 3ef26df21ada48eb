"""A fake video provider on loopback speaking the three wire protocols, for tests and demos.

Behaviour and injected faults come from :class:`Scenario`; what the bot sent is
in :class:`Recorder`. ``async with FakeProvider("videos", scenario) as fake:``
serves one protocol on ``fake.url``.
"""

from bot.fake_provider.app import SAMPLE_VIDEO, FakeProvider, build_app, serve
from bot.fake_provider.scenario import Recorder, Scenario

__all__ = ["SAMPLE_VIDEO", "FakeProvider", "Recorder", "Scenario", "build_app", "serve"]
