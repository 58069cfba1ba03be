# BonusEco IdP. The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
IDP_HOST ?= 127.0.0.1
IDP_PORT ?= 5000
IDP_ISSUER ?= http://$(IDP_HOST):$(IDP_PORT)
# The two demo modules (examples/demo_module), on the ports `idp demo seed` registers.
DEMO_PORT := 5001
DEMO_PORT_2 := 5002
# The Apache demo module (examples/apache), when apache2 and mod_auth_openidc are installed.
DEMO_APACHE_PORT := 5003
DSFR := node_modules/@gouvfr/dsfr/dist
STATIC_DSFR := idp/static/dsfr

.PHONY: install install-test run test test-postgresql test-production lint chromium apache clean mutation mutation-survivors

VOICES := build/captcha-voices

install: $(VENV)/.stamp-install $(STATIC_DSFR)/.stamp $(VOICES)/.stamp

$(VENV)/.stamp-install: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# The DSFR comes from npm (its preinstall script refuses projects it did not
# scaffold, hence --ignore-scripts); only what the pages use is served.
node_modules/.stamp: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(STATIC_DSFR)/.stamp: node_modules/.stamp Makefile
	rm -rf $(STATIC_DSFR) && mkdir -p $(STATIC_DSFR)
	cp $(DSFR)/dsfr.min.css $(DSFR)/dsfr.module.min.js $(DSFR)/dsfr.nomodule.min.js $(STATIC_DSFR)/
	mkdir -p $(STATIC_DSFR)/utility && cp $(DSFR)/utility/utility.min.css $(STATIC_DSFR)/utility/
	cp -r $(DSFR)/fonts $(DSFR)/favicon $(DSFR)/icons $(STATIC_DSFR)/
	@# The pictograms of the display settings (templates/_macros/layout.html), and no other.
	mkdir -p $(STATIC_DSFR)/artwork/pictograms/environment $(STATIC_DSFR)/artwork/pictograms/system
	cp $(DSFR)/artwork/pictograms/environment/sun.svg $(DSFR)/artwork/pictograms/environment/moon.svg \
		$(STATIC_DSFR)/artwork/pictograms/environment/
	cp $(DSFR)/artwork/pictograms/system/system.svg $(STATIC_DSFR)/artwork/pictograms/system/
	touch $@

# French voice files of the audio captcha, generated with espeak-ng.
$(VOICES)/.stamp: $(VENV)/.stamp-install idp/captcha_voices.py
	@if sh .ci/ensure-espeak; then \
		rm -rf $(VOICES) && $(BIN)/python -m idp.captcha_voices $(VOICES) && touch $@; \
	fi

install-test: install $(VENV)/.stamp-test chromium apache promtool

chromium:
	@sh .ci/ensure-chromium

# Apache 2.4 and mod_auth_openidc, a relying party the module tests drive (examples/apache/).
apache:
	@sh .ci/ensure-apache

# promtool, which checks the alerting rules of docs/monitoring/ (tests/test_monitoring.py).
.PHONY: promtool
promtool:
	@sh .ci/ensure-promtool

run: install
	$(BIN)/idp db upgrade
	$(BIN)/idp demo seed
	@echo
	@echo "BonusEco IdP : http://$(IDP_HOST):$(IDP_PORT)/login"
	@echo "Module de démonstration : http://127.0.0.1:$(DEMO_PORT)/ (« Se connecter avec BonusEco »)"
	@echo "Second module, connexion sans formulaire (SSO) : http://127.0.0.1:$(DEMO_PORT_2)/"
	@echo "Mails de démonstration (fichiers .eml) : $(CURDIR)/instance/outbox/"
	@echo
	@# The modules run in the background and stop with the IdP (Ctrl-C).
	@secret="$$($(BIN)/python -c 'from idp.demo import DEMO_CLIENT_SECRET as s; print(s)')"; \
	export DEMO_ISSUER="$(IDP_ISSUER)" DEMO_CLIENT_SECRET="$$secret" IDP_ISSUER="$(IDP_ISSUER)"; \
	DEMO_CLIENT_ID=demo-module DEMO_PORT=$(DEMO_PORT) DEMO_NAME="Module de démonstration" \
		$(BIN)/python -m examples.demo_module & m1=$$!; \
	DEMO_CLIENT_ID=demo-module-2 DEMO_PORT=$(DEMO_PORT_2) DEMO_NAME="Second module de démonstration" \
		$(BIN)/python -m examples.demo_module & m2=$$!; \
	DEMO_CLIENT_ID=demo-apache DEMO_PORT=$(DEMO_APACHE_PORT) $(BIN)/python -m examples.apache & m3=$$!; \
	trap 'kill $$m1 $$m2 $$m3 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask --app wsgi run --host "$(IDP_HOST)" --port "$(IDP_PORT)"

# SQLite and in-memory rate limits, whatever the environment says.
test: install-test
	env -u IDP_TEST_DATABASE_URL -u IDP_TEST_REDIS_URL \
		$(BIN)/python -m pytest -q -p no:cacheprovider -m 'not production'

# The same tests on PostgreSQL and Redis (tests/backends.py); the browser journeys
# test pages, not storage, and stay on SQLite. Called by .ci/run when both answer.
IDP_TEST_DATABASE_URL ?= postgresql://127.0.0.1:5432/test
IDP_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
test-postgresql: install-test
	IDP_TEST_DATABASE_URL='$(IDP_TEST_DATABASE_URL)' IDP_TEST_REDIS_URL='$(IDP_TEST_REDIS_URL)' \
		$(BIN)/python -m pytest -q -p no:cacheprovider -m 'not production and not browser'

# gunicorn with 4 workers on PostgreSQL + Redis: races and faults (docs/deployment.md).
test-production: install-test
	IDP_TEST_DATABASE_URL='$(IDP_TEST_DATABASE_URL)' IDP_TEST_REDIS_URL='$(IDP_TEST_REDIS_URL)' \
		$(BIN)/python -m pytest -q -p no:cacheprovider -m production tests/production

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check idp tests config.py wsgi.py gunicorn.conf.py $(wildcard bench examples)

# The benchmark (bench/run.py): prints one table; never part of `make test`
# or CI. BENCH_SECONDS (default 5) per scenario; BENCH_QUICK=1 for SQLite with 1,000
# accounts only. The reference (panva's oidc-provider) is a bench-only npm dependency.
BENCH_REFERENCE := bench/reference
$(BENCH_REFERENCE)/node_modules/.stamp: $(BENCH_REFERENCE)/package.json $(BENCH_REFERENCE)/package-lock.json
	cd $(BENCH_REFERENCE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: bench
bench: install $(BENCH_REFERENCE)/node_modules/.stamp
	$(BIN)/python -m bench.run

# What each request costs, in-process (bench/request_costs.py): statements, round trips,
# lock hold times, driver time, Python CPU; docs/performance/request-costs.md. On SQLite,
# or on a scratch PostgreSQL database with BENCH_COSTS_DATABASE_URL (an admin database URL).
.PHONY: bench-costs
bench-costs: install
	$(BIN)/python -m bench.request_costs $(if $(BENCH_COSTS_DATABASE_URL),--database-url '$(BENCH_COSTS_DATABASE_URL)')

# The IdP under gunicorn gthread (as shipped), gunicorn sync and granian, side by side
# (bench/wsgi_servers.py; docs/deployment.md, « WSGI server »). granian is bench-only:
# the `bench` extra of pyproject.toml.
$(VENV)/.stamp-bench: $(VENV)/.stamp-install pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

.PHONY: bench-wsgi
bench-wsgi: install $(VENV)/.stamp-bench
	$(BIN)/python -m bench.wsgi_servers

# Mutation testing of the security rules (mutmut; [tool.mutmut] in pyproject.toml lists
# the files). Slow (hours on two cores): never part of `make test` or CI. Resumes where
# it stopped, across clones too: the verdicts are kept in tests/security/mutation-record.json
# (tests/security/mutation_record.py). `make mutation-survivors` runs the survivors again
# after new tests; `.venv/bin/mutmut show NAME` shows one mutant's diff.
$(VENV)/.stamp-mutation: $(VENV)/.stamp-test pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,mutation]'
	touch $@

RECORD := $(BIN)/python -m tests.security.mutation_record

mutation: install-test $(VENV)/.stamp-mutation
	$(RECORD) restore
	@# A stopped run (`pkill -f mutmut`: mutmut 3.8 ignores Ctrl-C) still saves its verdicts.
	trap true INT; $(BIN)/mutmut run; status=$$?; $(RECORD) save; exit $$status
	$(BIN)/python -m tests.security.mutation_summary

mutation-survivors: install-test $(VENV)/.stamp-mutation
	$(RECORD) restore
	trap true INT; $(BIN)/mutmut run $$($(RECORD) survivors); status=$$?; $(RECORD) save; exit $$status
	$(BIN)/python -m tests.security.mutation_summary

clean:
	rm -rf $(VENV) node_modules $(STATIC_DSFR)
