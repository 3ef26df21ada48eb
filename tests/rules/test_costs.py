"""Cost table and price table: parsing, validation naming the variable, exact arithmetic."""

from __future__ import annotations

import pytest

from bot.rules.costs import MICROS, CostTable, PriceTable, RuleError, format_money, parse_money


def test_default_cost_table_charges_one_credit_per_job() -> None:
    table = CostTable()
    assert table.credits("sora-2", 10, False) == 1
    assert table.credits("sora-2-pro", 25, True) == 1
    assert CostTable.parse("").credits("anything", 4, False) == 1


def test_models_hd_and_durations_combine_add_then_multiply() -> None:
    table = CostTable.parse("sora-2:1, sora-2-pro:3, hd:+2, 15s:x1.5, 25s:x2")
    assert table.credits("sora-2", 10, False) == 1
    assert table.credits("sora-2-pro", 10, False) == 3
    assert table.credits("sora-2-pro", 10, True) == 5  # 3 + 2
    assert table.credits("sora-2", 15, False) == 2  # 1 x 1.5 = 1.5, rounded up
    assert table.credits("sora-2-pro", 15, True) == 8  # (3 + 2) x 1.5 = 7.5 -> 8
    assert table.credits("sora-2-pro", 25, False) == 6
    assert table.credits("SORA-2-PRO", 25, False) == 6  # model names are case-insensitive


def test_star_sets_the_base_of_unlisted_models_and_durations_can_add() -> None:
    table = CostTable.parse("*:2, sora-2:1, 12s:+1, 12s:x2")
    assert table.credits("sora_video2", 4, False) == 2
    assert table.credits("sora-2", 12, False) == 4  # (1 + 1) x 2
    assert table.credits("sora-2", 8, False) == 1


def test_zero_cost_and_exact_fractions() -> None:
    assert CostTable.parse("sora-2:0").credits("sora-2", 10, False) == 0
    # 0.1 x 3 is exactly 0.3, so x10 gives 3 (floats would give 3.0000000000000004 -> 4).
    assert CostTable.parse("*:0.1, 10s:x3, hd:x10").credits("m", 10, True) == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sora-2", "is not a rule like"),
        ("sora-2:", "is not a rule like"),
        ("sora-2:+1", "a model takes a plain number"),
        ("sora-2:-1", "a model takes a plain number"),
        ("hd:2", "use '+N' to add or 'xN'"),
        ("15s:/2", "use '+N' to add or 'xN'"),
        ("hd:xabc", "use '+N' to add or 'xN'"),
        ("bad key!:1", "is not a model, 'hd' or like '15s'"),
    ],
)
def test_malformed_rules_name_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(RuleError) as raised:
        CostTable.parse(text)
    assert str(raised.value).startswith("COST_TABLE: ")
    assert fragment in str(raised.value)


def test_default_prices_per_second() -> None:
    prices = PriceTable()
    assert prices.micros("sora-2", 10, False) == 1 * MICROS  # 0.10 x 10 s
    assert prices.micros("sora-2-pro", 15, False) == 4_500_000  # 0.30 x 15 s
    assert prices.micros("sora_video2", 10, False) == 1 * MICROS  # * default


def test_price_table_with_hd_multiplier_and_error_name() -> None:
    prices = PriceTable.parse("sora-2:0.10, sora-2-pro:0.30, hd:x1.5")
    assert prices.micros("sora-2-pro", 10, True) == 4_500_000
    assert prices.micros("unknown", 10, False) == 0  # no * rule: unknown models are free
    with pytest.raises(RuleError, match=r"^PRICE_PER_SECOND: "):
        PriceTable.parse("sora-2:cheap")


def test_money_parsing_and_formatting() -> None:
    assert parse_money("20", "X") == 20 * MICROS
    assert parse_money("$7.50", "X") == 7_500_000
    with pytest.raises(RuleError, match=r"^BUDGET_DAILY_MONEY must be an amount"):
        parse_money("-3", "BUDGET_DAILY_MONEY")
    assert format_money(1_500_000, "USD") == "1.50 USD"
    assert format_money(0, "EUR") == "0.00 EUR"
    assert format_money(1_234, "USD") == "0.0012 USD"


def test_unpriced_models_are_reported_and_a_star_prices_everything() -> None:
    prices = PriceTable.parse("sora-2:0.10, vendor/model-x:0.5")
    assert prices.unpriced(["sora-2", "SORA-2-PRO", "vendor/model-x"]) == ["SORA-2-PRO"]
    assert prices.unpriced(None) == ["*"]  # an offer not known in advance needs a * rule
    assert PriceTable.parse("sora-2:0.1, *:0.2").unpriced(["other", "x"]) == []
    assert PriceTable.parse("sora-2:0.1, *:0.2").unpriced(None) == []
    assert PriceTable().unpriced(None) == []  # the default table has a * rule
