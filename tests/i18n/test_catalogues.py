"""The catalogues: complete, well formed, compiled from their sources, within Discord's limits."""

from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES, pick_locale, t, tn
from bot.i18n.translator import valid_name

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "bot" / "locales"
TRANSLATED = [code for code in LOCALES if code != "en"]
# Whole command/option names as the code declares them (see cogs/): lower case, one word.
NAMES = {"video", "quota", "image", "prompt", "duration", "orientation", "model", "hd"}


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _ids(message: object) -> tuple[str, ...]:
    ids = message.id  # type: ignore[attr-defined]
    return ids if isinstance(ids, tuple) else (ids,)


def _strings(message: object) -> tuple[str, ...]:
    strings = message.string  # type: ignore[attr-defined]
    return strings if isinstance(strings, tuple) else (strings,)


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _catalog(LOCALE_DIR / "messages.pot")


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(
    locale: str, template: Catalog
) -> None:
    po = _catalog(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    source = {m.id for m in template if m.id}
    assert {m.id for m in po if m.id} == source  # nothing missing, nothing obsolete
    for message in po:
        if not message.id:
            continue
        assert not message.fuzzy, (locale, message.id)
        expected = set().union(*(_placeholders(i) for i in _ids(message)))
        strings = _strings(message)
        if isinstance(message.id, tuple):
            assert len(strings) == po.num_plurals, (locale, message.id)
        for text in strings:
            assert text.strip(), (locale, message.id)
            # A plural form may leave {n} implied (e.g. Chinese has one form for all n).
            assert _placeholders(text) - {"n"} == expected - {"n"}, (locale, message.id, text)
            for mark in ("**", "`"):
                assert text.count(mark) == _ids(message)[0].count(mark), (locale, text)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_compiled_catalogue_matches_its_source(locale: str) -> None:
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(folder / "messages.po", locale))
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), (
        f"{locale}: run scripts/i18n compile"
    )


def test_the_template_is_extracted_from_the_code(template: Catalog) -> None:
    """The .pot holds exactly what the code marks (same keywords as scripts/i18n)."""
    keywords = {
        "t": (2,),
        "tn": (2, 3),
        "msg": None,
        "nmsg": (1, 2),
        "N_": None,
        "locale_str": None,
    }
    found: set[str] = set()
    for folder in ("bot", "cogs"):
        method_map = [("**.py", "python")]
        for _, _, message, _, _ in extract_from_dir(ROOT / folder, method_map, keywords=keywords):
            found.add(message[0] if isinstance(message, tuple) else message)
    ids = {_ids(m)[0] for m in template if m.id}
    assert ids == found, "run scripts/i18n extract, then update"
    assert ids >= NAMES | {"Video for {member}", "{n} credit", "Cancel", "Retry"}


@pytest.mark.parametrize("locale", TRANSLATED)
def test_command_translations_fit_discord(locale: str, template: Catalog) -> None:
    po = _catalog(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    for message in po:
        if not message.id:
            continue
        for text in _strings(message):
            if message.id in NAMES:
                assert valid_name(text), (locale, message.id, text)
            assert len(text) <= 2000
    for name in NAMES:
        assert valid_name(t(locale, name))


def test_name_rule_follows_discord() -> None:
    assert valid_name("视频") and valid_name("duração") and valid_name("video-admin")
    assert not valid_name("Video") and not valid_name("two words") and not valid_name("x" * 33)
    assert not valid_name("") and not valid_name("a.b")


def test_plural_forms_and_placeholders_render() -> None:
    assert tn("en", "{n} credit", "{n} credits", 1) == "1 credit"
    assert tn("en", "{n} credit", "{n} credits", 3) == "3 credits"
    assert tn("es", "{n} credit", "{n} credits", 3) == "3 créditos"
    assert tn("pt_BR", "{n} credit", "{n} credits", 1) == "1 crédito"
    assert tn("zh_CN", "{n} credit", "{n} credits", 5) == "5 点额度"
    assert t("es", "Video for {member}", member="<@1>") == "Vídeo para <@1>"


@pytest.mark.parametrize(
    ("discord", "ours"),
    [
        ("zh-CN", "zh_CN"),
        ("es-ES", "es"),
        ("es-419", "es"),
        ("pt-BR", "pt_BR"),
        ("en-US", "en"),
        ("fr", "en"),
        (None, "en"),
        ("zh-TW", "en"),
    ],
)
def test_discord_locales_pick_a_catalogue(discord: str | None, ours: str) -> None:
    assert pick_locale(discord) == ours
