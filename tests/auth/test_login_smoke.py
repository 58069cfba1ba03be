from tests.conftest import STRONG_PASSWORD
from tests.conftest import login


def test_smoke(client, make_user):
    make_user()
    r = login(client, "jdupont", STRONG_PASSWORD)
    assert r.status_code == 303
    assert r.headers["Location"] == "/"
    r = client.get("/")
    assert "Mes applications" in r.get_data(as_text=True)
