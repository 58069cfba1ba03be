"""The per-request baseline: one Flask JSON endpoint and nothing else, under the same gunicorn.

    gunicorn -c gunicorn.conf.py bench.bare_flask:app
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    """A small JSON document, like discovery without the work."""
    return {"status": "ok"}
