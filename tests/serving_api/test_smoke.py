def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_me(client, world):
    r = client.get("/v1/me", headers=world.a.student.headers)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["student"]
