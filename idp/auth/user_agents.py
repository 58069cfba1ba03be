"""A browser's User-Agent header as a person names it: « Firefox sur Windows ».

The home page lists the open sessions with their browser (docs/flows.md, « Logout
and single sign-on »); the raw header means nothing to most people. Only the
family of browser and of system is told: versions change every month and
would make two sessions of one browser look different.
"""

from __future__ import annotations

UNKNOWN = "Navigateur non reconnu"
MISSING = "inconnu"

# (marker in the header, name), the first match wins: Edge, Opera and Samsung's browser
# also say « Chrome », Chrome also says « Safari », Android also says « Linux ».
BROWSERS = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("Edge/", "Edge"),
    ("OPR/", "Opera"), ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
    ("Trident/", "Internet Explorer"), ("MSIE ", "Internet Explorer"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("iPod", "iPod"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"), ("Mac OS X", "macOS"),
    ("Linux", "Linux"), ("X11", "Linux"),
)


def _first(header: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for marker, name in table if marker in header), None)


def describe(user_agent: str | None) -> str:
    """« Firefox sur Windows », « Safari sur iPhone », « Chrome », or « Navigateur non
    reconnu » (« inconnu » when the browser sent no header)."""
    if not user_agent or not user_agent.strip():
        return MISSING
    browser = _first(user_agent, BROWSERS)
    if browser == "Safari" and "Version/" not in user_agent:
        browser = None  # many programs say « Safari » without being it
    system = _first(user_agent, SYSTEMS)
    if browser is None:
        return UNKNOWN if system is None else f"{UNKNOWN} sur {system}"
    return browser if system is None else f"{browser} sur {system}"
