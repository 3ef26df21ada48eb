"""What a video costs: credits from ``COST_TABLE``, estimated money from ``PRICE_PER_SECOND``.

Both settings use one small rule format, comma-separated ``key:value`` pairs::

    COST_TABLE="sora-2:1, sora-2-pro:3, hd:+2, 15s:x1.5, 25s:x2"
    PRICE_PER_SECOND="sora-2:0.10, sora-2-pro:0.30, hd:x1.5"

* a model name (or ``*`` for every other model) with a plain number sets the base;
* ``hd`` and a duration such as ``15s`` take ``+N`` (added to the base) or ``xN``
  (multiplied), and apply when the job is HD or has that duration.

The result is ``(base + additions) x multipliers``: credits are rounded up to a
whole number; a price is per second of video, so it is also multiplied by the
duration. Arithmetic is exact (fractions), so ``0.1 x 3`` is ``0.3``.

Models a table does not name: ``COST_TABLE`` charges them 1 credit (its
documented default), never 0 by omission; a free model takes an explicit
``model:0``. ``PRICE_PER_SECOND`` fails closed instead: a price of 0 would let
those jobs past every money cap, so a custom table must name every model members
may pick or give a ``*`` default (:meth:`PriceTable.unpriced`; checked at start).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

MICROS = 1_000_000  # money is kept as integer millionths of the currency unit
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_DURATION = re.compile(r"^(\d+)s$")
_MODEL = re.compile(r"^[\w.\-/]+$|^\*$")  # "/" for vendor/model names (OpenRouter)
DEFAULT_PRICES = "sora-2:0.10, sora-2-pro:0.30, *:0.10"


class RuleError(ValueError):
    """A rule of a cost or price table is malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Modifier:
    """``+N`` (add) and/or ``xN`` (multiply) applied when a condition holds."""

    add: Fraction = Fraction(0)
    multiply: Fraction = Fraction(1)


@dataclass(frozen=True, slots=True)
class RuleTable:
    """Parsed rules: base per model, the ``*`` default, and HD and duration modifiers."""

    bases: Mapping[str, Fraction] = field(default_factory=lambda: MappingProxyType({}))
    default: Fraction = Fraction(1)
    hd: Modifier = Modifier()
    durations: Mapping[int, Modifier] = field(default_factory=lambda: MappingProxyType({}))
    wildcard: bool = False  # the table has a ``*`` rule: every model is named

    @classmethod
    def parse(cls, text: str, *, name: str, default: Fraction) -> RuleTable:
        """Parse ``text`` (the value of the variable ``name``); RuleError on a bad rule."""
        bases: dict[str, Fraction] = {}
        durations: dict[int, Modifier] = {}
        hd = Modifier()
        for raw in (part.strip() for part in text.split(",")):
            if not raw:
                continue
            key, sep, value = (s.strip() for s in raw.partition(":"))
            if not sep or not key or not value:
                raise RuleError(
                    f"{name}: {raw!r} is not a rule like 'sora-2:1', 'hd:+2' or '15s:x1.5'"
                )
            key = key.lower()
            seconds = _DURATION.match(key)
            if key == "hd":
                hd = _modifier(name, raw, value, hd)
            elif seconds:
                old = durations.get(int(seconds[1]), Modifier())
                durations[int(seconds[1])] = _modifier(name, raw, value, old)
            elif _MODEL.match(key):
                if not _NUMBER.match(value):
                    raise RuleError(f"{name}: in {raw!r} a model takes a plain number like '1'")
                bases[key] = Fraction(value)
            else:
                raise RuleError(f"{name}: {key!r} in {raw!r} is not a model, 'hd' or like '15s'")
        wildcard = "*" in bases
        default = bases.pop("*", default)
        return cls(MappingProxyType(bases), default, hd, MappingProxyType(durations), wildcard)

    def names(self, model: str) -> bool:
        """Whether a rule sets ``model``'s base (by name, or by ``*``)."""
        return self.wildcard or model.lower() in self.bases

    def amount(
        self, model: str, duration: int, hd: bool, *, fallback: Fraction | None = None
    ) -> Fraction:
        """The exact value for one job, before rounding (and before x seconds for prices).

        ``fallback`` is the base of a model no rule names, instead of the ``*`` default.
        """
        default = self.default if fallback is None else fallback
        value = self.bases.get(model.lower(), default)
        applied = [self.hd] if hd else []
        if duration in self.durations:
            applied.append(self.durations[duration])
        value += sum((m.add for m in applied), Fraction(0))
        for modifier in applied:
            value *= modifier.multiply
        return value


def _modifier(name: str, raw: str, value: str, old: Modifier) -> Modifier:
    sign, number = value[:1].lower(), value[1:].strip()
    if sign not in ("+", "x", "*") or not _NUMBER.match(number):
        raise RuleError(f"{name}: in {raw!r} use '+N' to add or 'xN' to multiply")
    if sign == "+":
        return Modifier(old.add + Fraction(number), old.multiply)
    return Modifier(old.add, old.multiply * Fraction(number))


@dataclass(frozen=True, slots=True)
class CostTable:
    """Credits per job (``COST_TABLE``). The default, empty table charges 1 credit per job."""

    rules: RuleTable = field(default_factory=RuleTable)

    @classmethod
    def parse(cls, text: str, name: str = "COST_TABLE") -> CostTable:
        """Parse the setting; RuleError naming ``name`` when a rule is wrong."""
        return cls(RuleTable.parse(text, name=name, default=Fraction(1)))

    def credits(self, model: str, duration: int, hd: bool) -> int:
        """Whole credits for one job, rounded up (never negative)."""
        return max(0, math.ceil(self.rules.amount(model, duration, hd)))


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Estimated money per second of video (``PRICE_PER_SECOND``), for budgets and stats."""

    rules: RuleTable = field(
        default_factory=lambda: RuleTable.parse(DEFAULT_PRICES, name="", default=Fraction(0))
    )
    # Per-second prices read from a provider's catalogue (OpenRouter's pricing_skus):
    # they price the models the table does not name, ahead of its ``*`` default.
    catalogue: dict[str, Fraction] = field(default_factory=dict, compare=False)

    def learn(self, prices: Mapping[str, object]) -> None:
        """Remember catalogue prices per second (Decimal, str or number) by model name."""
        for model, price in prices.items():
            self.catalogue[model.lower()] = Fraction(str(price))

    @classmethod
    def parse(cls, text: str, name: str = "PRICE_PER_SECOND") -> PriceTable:
        """Parse the setting; RuleError naming ``name`` when a rule is wrong."""
        return cls(RuleTable.parse(text, name=name, default=Fraction(0)))

    def unpriced(self, models: Iterable[str] | None) -> list[str]:
        """The ``models`` this table has no price for; ``None`` means "any model at all".

        ``None`` is an offer not known in advance (a provider's catalogue): only a
        ``*`` default prices it, and ``["*"]`` is returned without one.
        """
        if models is None:
            return [] if self.rules.wildcard else ["*"]
        return [
            m
            for m in dict.fromkeys(models)
            if not self.rules.names(m) and m.lower() not in self.catalogue
        ]

    def micros(self, model: str, duration: int, hd: bool) -> int:
        """The estimated price of one job in millionths of the currency unit."""
        listed = self.catalogue.get(model.lower())
        amount = self.rules.amount(model, duration, hd, fallback=listed)
        return max(0, round(amount * duration * MICROS))


def parse_money(raw: str, name: str) -> int:
    """A money amount such as ``20`` or ``7.50`` as micros; RuleError naming ``name``."""
    text = raw.strip().lstrip("$").strip()
    if not _NUMBER.match(text):
        raise RuleError(f"{name} must be an amount of money like 20 or 7.50 (got {raw!r})")
    return round(Fraction(text) * MICROS)


def format_money(micros: int, currency: str) -> str:
    """``1234567`` micros as ``1.23 USD`` (two decimals, or more when they matter)."""
    value = Fraction(micros, MICROS)
    text = f"{float(value):.2f}"
    if Fraction(text) != value and micros < MICROS:
        text = f"{float(value):.4f}".rstrip("0")
    return f"{text} {currency}"
