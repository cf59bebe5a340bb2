"""The suite's own PostgreSQL and Redis engines start on loopback and answer."""

from __future__ import annotations


def test_postgres_engine_runs_a_query(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        assert conn.info.host == "127.0.0.1"


def test_redis_engine_carries_a_message(redis_server) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    pubsub = client.pubsub()
    pubsub.subscribe("play-test")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    assert client.publish("play-test", b"hello") == 1
    message = pubsub.get_message(timeout=5)
    assert message is not None and message["data"] == b"hello"
    pubsub.close()
    client.close()
