#!/usr/bin/python3
"""The application behind mod_auth_openidc (bonuseco-module.conf): a page that shows what
the module hands it, the variables OIDC_CLAIM_* (ID token and userinfo claims),
OIDC_access_token and REMOTE_USER, with the module's refresh and logout links."""

import html
import os
from urllib.parse import quote

# OIDCRedirectURI of bonuseco-module.conf, where mod_auth_openidc answers its hooks.
REDIRECT_PATH = "/app/redirect_uri"


def row(name: str, value: str) -> str:
    return (f'<tr><th scope="row">{html.escape(name)}</th>'
            f'<td id="{html.escape(name)}">{html.escape(value)}</td></tr>')


def main() -> None:
    env = os.environ
    base = f"{env.get('REQUEST_SCHEME', 'http')}://{env['HTTP_HOST']}"
    here = env.get("REQUEST_URI", "/app/").split("?")[0]
    is_management = here.startswith("/app/gestion")
    names = ["REMOTE_USER"] + sorted(n for n in env if n.startswith("OIDC_"))
    rows = "\n".join(row(n, env.get(n, "")) for n in names)
    # mod_auth_openidc's hooks: the refresh hook wants the current access token (so that
    # no other site can trigger it), the logout hook the address to come back to.
    refresh = (f"{REDIRECT_PATH}?refresh={quote(base + here, safe='')}"
               f"&access_token={quote(env.get('OIDC_access_token', ''), safe='')}")
    logout = f"{REDIRECT_PATH}?logout={quote(base + '/', safe='')}"
    title = "Espace gestionnaire" if is_management else "Module Apache de démonstration"
    print("Content-Type: text/html; charset=utf-8")
    print("Cache-Control: no-store")
    print()
    print(f"""<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<main>
<h1>{title}</h1>
<p id="welcome">Vous êtes connecté avec BonusEco.</p>
<h2>Ce que mod_auth_openidc transmet à l'application</h2>
<table>
<tr><th scope="col">Variable</th><th scope="col">Valeur</th></tr>
{rows}
</table>
<ul>
<li><a href="{html.escape(refresh)}">Renouveler le jeton d'accès</a></li>
<li><a href="/app/">Accueil du module</a></li>
<li><a href="/app/gestion/">Espace gestionnaire</a></li>
<li><a href="{html.escape(logout)}">Se déconnecter</a></li>
</ul>
</main>
</body>
</html>""")


main()
