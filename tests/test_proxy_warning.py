"""``IDP_PROXY_HOPS=0`` behind a proxy: the IdP says once per process that the
forwarded address is ignored (docs/deployment.md, « Reverse proxy, TLS and
IDP_PROXY_HOPS »)."""

from __future__ import annotations

import logging

import pytest

from idp import create_app
from tests.conftest import TEST_OVERRIDES

PROXY = {"REMOTE_ADDR": "10.0.1.5"}
DIRECT = {"REMOTE_ADDR": "198.51.100.7"}
FORWARDED = {"X-Forwarded-For": "203.0.113.9"}
IGNORED = "X-Forwarded-For from a trusted proxy ignored: IDP_PROXY_HOPS is 0"


def warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(IGNORED)]


def client_with(app_environ, hops: int):
    app_environ.update(IDP_PROXY_HOPS=str(hops), IDP_TRUSTED_PROXIES="10.0.1.5")
    return create_app(dict(TEST_OVERRIDES), environ=app_environ).test_client()


def test_warned_once_when_a_trusted_proxy_forwards_and_hops_is_0(app_environ, caplog):
    client = client_with(app_environ, 0)
    with caplog.at_level(logging.WARNING, logger="idp.web"):
        assert client.get("/healthz", environ_base=PROXY).status_code == 200
        assert warnings(caplog) == []  # no header: nothing forwarded, nothing to say
        for _ in range(3):
            assert client.get("/healthz", headers=FORWARDED,
                              environ_base=PROXY).status_code == 200

    (warned,) = warnings(caplog)
    assert warned.levelno == logging.WARNING
    assert warned.proxy == "10.0.1.5"
    assert "203.0.113.9" not in warned.getMessage()


@pytest.mark.parametrize(("hops", "peer"), [(0, DIRECT), (1, PROXY)],
                         ids=["untrusted-peer", "hops-set"])
def test_no_warning_from_a_client_or_with_hops_set(app_environ, caplog, hops, peer):
    client = client_with(app_environ, hops)
    with caplog.at_level(logging.WARNING, logger="idp.web"):
        assert client.get("/healthz", headers=FORWARDED, environ_base=peer).status_code == 200
    assert warnings(caplog) == []
