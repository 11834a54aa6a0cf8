"""What is on a page but is not the article: furniture lines, and pages that hold no article.

Pure functions over extracted paragraphs. The main-text extractor removes most navigation,
sidebars and footers by their place in the page; what slips through sits *inside* the
article's container and reads like a paragraph: "Read more: …", share prompts, newsletter
boxes, copyright and standards lines, photo credits. Those are recognised by how they open,
in the languages the monitored press writes in, and only when short: a long paragraph that
happens to start "Subscribe" is prose.

A page whose extracted text is a consent wall, a paywall stub or a teaser linking to the real
article is "not the article": storing it as a version would make every later check look like
an edit (or hide one), so the caller records it as a rejection instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "FURNITURE_MAX_CHARS",
    "is_furniture",
    "is_onward_link",
    "is_teaser_text",
    "not_article_reason",
    "without_furniture",
]

FURNITURE_MAX_CHARS = 250  # a paragraph longer than this is prose, whatever it opens with

_FURNITURE = re.compile(
    r"""^\W{0,3}(?:
    read\ (?:more|also|next|this)\b|also\ read\b|see\ also\b|
    related(?:\ (?:articles?|stories|posts|content|coverage))?\s*:|
    more\ (?:on|from|about)\ (?:this|the)\b|
    lesen\ sie\ (?:auch|mehr|hier)|mehr\ zum\ thema|weitere\ artikel|weiterlesen\b|
    auch\ interessant|
    das\ könnte\ (?:sie|dich)|passend\ dazu|zum\ thema\s*:|
    lea\ (?:también|además|más)|lee\ (?:también|además|más)|mira\s*:|[tl]e\ puede\ interesar|
    lire\ (?:aussi|également|la\ suite)|à\ lire\ (?:aussi|également)|voir\ aussi|
    czytaj\ (?:też|także|więcej)|zobacz\ (?:też|także)|
    share\ (?:this|on|via)|share\s*:|teilen\ (?:mit|auf)|partager\b|compartir\b|
    follow\ (?:us|\S+\ on)|folg(?:en\ sie|t)\ uns|síguenos|suivez-nous|
    sign\ up\b|subscribe\b|never\ miss\b|newsletter\b|
    jetzt\ (?:abonnieren|anmelden)|suscr[ií]b|abonnez|
    (?:advertisement|anzeige|werbung|publicidad|publicité)(?:\W*$|\s+[-:|])|sponsored\s*[-:|]|
    all\ rights\ reserved|alle\ rechte\ vorbehalten|this\ article\ is\ the\ copyright|
    copyright\b|©|our\ standards\s*:|
    (?:titel)?(?:bild|foto|photo)s?\s*(?:credits?)?\s*:|crédits?\ photos?|
    keine\ kommentare|no\ comments|tags?\s*:|schlagwörter\s*:|
    schon\ gelesen|weitere\ (?:themen|informationen\s*:)|
    weitere\ aktuelle\ (?:themen|artikel|beiträge|nachrichten)|kommentierte\ artikel|
    meist[-\ ]?(?:gelesen|diskutiert|kommentiert)|most\ (?:read|popular|viewed|shared)\b|
    letzte\ änderung|last\ modified|
    sie\ sind\ (?:aktuell\ |derzeit\ )?nicht\ (?:eingeloggt|angemeldet)|you\ are\ not\ logged\ in|
    inhaltsverzeichnis|table\ of\ contents|
    (?:last\ )?updated\s*(?:on\b|at\b|:|\d)|aktualisiert\ am|mis\ à\ jour\ le|
    learn\ more\b|mehr\ erfahren\b|en\ savoir\ plus|más\ información|dowiedz\ się\ więcej|
    (?:zum|für\ den|unseren?)\ newsletter|
    get\ (?:the|our)\ \S+(?:\ \S+){0,4}\ (?:newsletter|app|edition)|
    for\ (?:the\ )?(?:latest|more)\b.{0,80}\b(?:download|follow|subscribe|sign\ up)|
    follow\ (?:\S+\ ){1,3}on\b|unterstütze\b|support\ (?:us|our\ journalism)|apóyanos|
    hazte\ miembro|become\ a\ (?:member|supporter)|
    (?:this|our)\ (?:web)?site\ uses\ cookies|we\ use\ cookies|wir\ (?:verwenden|nutzen)\ cookies|
    diese\ (?:webseite|website|seite)\ (?:verwendet|nutzt)\ cookies|
    (?:utilizamos|usamos)\ cookies|nous\ utilisons\ des\ cookies|
    we\ want\ to\ hear|(?:tell|let)\ us\ (?:know\ )?what\ you\ think|
    (?:impressum|imprint|datenschutz\w*|cookie[-\w]*|privacy(?:\ policy)?|
    terms(?:\ (?:of\ (?:use|service)|and\ conditions))?|kontakt|contact(?:\ us)?)\W*$
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_furniture(paragraph: str) -> bool:
    """A short line that opens the way site furniture does ("Read more:", "Share on …")."""
    return len(paragraph) < FURNITURE_MAX_CHARS and _FURNITURE.match(paragraph) is not None


def without_furniture(paragraphs: Iterable[str]) -> list[str]:
    return [p for p in paragraphs if not is_furniture(p)]


# --- not the article -----------------------------------------------------------------------

SHORT_WORDS = 150  # an article stub is shorter than this; real news rarely is
TEASER_WORDS = 75  # a teaser is a headline and a paragraph or two
ONWARD_MAX_WORDS = 6  # "Continue reading on Partner News"

# A consent wall offers a consent platform's choices (a _CONSENT phrase, the words of its
# buttons) about cookies or data (a _TRACKING word). A news brief about cookie rules may say
# "consent" and "cookies", but rarely "Accept all" or "Manage options".
_CONSENT = re.compile(
    r"\b(?:(?:accept|reject|decline|allow|refuse)\ (?:all|cookies)|i\ (?:agree|accept)\b|"
    r"manage\ (?:options|preferences|settings|cookies)|(?:cookie|privacy)\ settings|"
    r"alle\ (?:akzeptieren|ablehnen)|(?:akzeptieren|zustimmen)\ und\ weiter|"
    r"einstellungen\ verwalten|tout\ (?:accepter|refuser)|(?:aceptar|rechazar)\ todo|"
    r"(?:akceptuj|zaakceptuj)\w*\ wszystk)",
    re.IGNORECASE | re.VERBOSE,
)
_TRACKING = re.compile(
    r"\b(?:cookies?|tracking|your\ (?:data|privacy)|personal\ data|our\ partners|"
    r"personali[sz]ed\ (?:ads|content)|datenschutz\w*|daten|données|datos)\b",
    re.IGNORECASE | re.VERBOSE,
)
_PAYWALL = re.compile(
    r"(?:subscribe\ (?:now\ )?to\ (?:continue|read|keep)|already\ a\ (?:subscriber|member)|"
    r"(?:this|the)\ (?:full\ )?(?:article|story|content)\ is\ (?:only\ )?(?:available\ )?"
    r"(?:for|to)\ (?:subscribers|members)|for\ subscribers\ only|subscribers\ only|"
    r"(?:continue|keep)\ reading\ with\ a\ (?:subscription|digital)|"
    r"sign\ in\ to\ (?:continue|read)|log\ in\ to\ (?:continue|read)|"
    r"unlock\ this\ (?:article|story)|"
    r"jetzt\ (?:weiterlesen|abonnieren|freischalten)|\w*plus-?artikel|nur\ für\ abonnenten|"
    r"réservé\ aux\ abonnés|exclusivo\ para\ suscriptores)",
    re.IGNORECASE | re.VERBOSE,
)
_CONTINUE = re.compile(
    r"^\W{0,3}(?:continue\ reading|read\ (?:the\ )?(?:full|whole|entire|complete)\ "
    r"(?:article|story|report|piece)|read\ more|full\ story|weiterlesen|"
    r"den\ (?:ganzen|vollständigen)\ artikel|lire\ la\ suite|leer\ más|seguir\ leyendo)",
    re.IGNORECASE | re.VERBOSE,
)


def is_teaser_text(paragraphs: Sequence[str]) -> bool:
    """Short enough to be a teaser: worth looking for a "continue reading" link."""
    return sum(len(p.split()) for p in paragraphs) < TEASER_WORDS


def is_onward_link(anchor_text: str) -> bool:
    """'Continue reading', 'Read the full story', 'Weiterlesen': a link to the article. A
    longer anchor ("Read more: <another story's headline>") is a related link."""
    return len(anchor_text.split()) <= ONWARD_MAX_WORDS and _CONTINUE.match(anchor_text) is not None


def not_article_reason(
    paragraphs: Sequence[str],
    *,
    free: bool | None = None,
    structured_body: bool = False,
    onward_link: bool = False,
) -> str | None:
    """Why the extracted paragraphs are not an article ("consent wall", "paywall stub",
    "teaser"), or None. `paragraphs` are as extracted, furniture still in; `free` is the
    page's schema.org isAccessibleForFree; `structured_body`: the text came from the page's
    own structured data (JSON-LD or microdata articleBody), which publishers fill with the
    whole article even behind a paywall; `onward_link`: the page links on to the article
    ("Continue reading on …"), which the main-text extractor drops as a link line."""
    text = " ".join(paragraphs)
    words = len(text.split())
    if words >= SHORT_WORDS or structured_body:
        return None
    if _CONSENT.search(text) and _TRACKING.search(text):
        return "consent wall"
    if free is False or _PAYWALL.search(text):
        return "paywall stub"
    if is_teaser_text(paragraphs) and (
        onward_link or (paragraphs and is_onward_link(paragraphs[-1]))
    ):
        return "teaser"
    return None
