"""``python -m examples.demo_module``: serve the demo module (see its docstring)."""

from examples.demo_module import create_app

app = create_app()
settings = app.config["DEMO"]
if not settings["CLIENT_SECRET"]:
    raise SystemExit("DEMO_CLIENT_SECRET manque (make run le fournit).")
app.run(host="127.0.0.1", port=settings["PORT"], threaded=True)
