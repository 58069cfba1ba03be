"""``python -m examples.apache``: the Apache demo module of ``make run``, when Apache and
mod_auth_openidc are installed; otherwise it says how to install them and exits.

Reads ``DEMO_ISSUER``, ``DEMO_CLIENT_ID``, ``DEMO_CLIENT_SECRET`` and ``DEMO_PORT`` like
the demo module; the files of the server go to ``instance/apache/``. The process becomes
``apache2`` (in the foreground), so that stopping it stops Apache.
"""

import os
import secrets
import sys
from pathlib import Path

from examples.apache import APACHE
from examples.apache import INSTALL
from examples.apache import ApacheModule
from examples.apache import is_installed

if not is_installed():
    print("Module Apache de démonstration non démarré : Apache et mod_auth_openidc manquent "
          f"(« {INSTALL} »).", file=sys.stderr)
    raise SystemExit(0)
secret = os.environ.get("DEMO_CLIENT_SECRET", "")
if not secret:
    raise SystemExit("DEMO_CLIENT_SECRET manque (make run le fournit).")
module = ApacheModule(
    port=int(os.environ.get("DEMO_PORT", "5003")),
    issuer=os.environ.get("DEMO_ISSUER", "http://127.0.0.1:5000"),
    client_id=os.environ.get("DEMO_CLIENT_ID", "demo-apache"),
    client_secret=secret,
    # A new one at each start: the sessions of the previous run end with it.
    crypto_passphrase=secrets.token_urlsafe(32),
    run_dir=Path("instance/apache").resolve(),
)
config = module.write_config()
print(f"Module Apache de démonstration : {module.url}/ (journal : {module.run_dir}/error.log)",
      file=sys.stderr)
os.execv(APACHE, [str(APACHE), "-f", str(config), "-DFOREGROUND"])  # noqa: S606
