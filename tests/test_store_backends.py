"""The Store interface's behaviour, the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from gameserver.store import EVERYONE, StorageError, UnstorableValue


def test_accounts_are_unique_whatever_the_case(make_store):
    store = make_store()
    assert store.create_account("Ann", "hash1") is True
    assert store.create_account("ann", "hash2") is False
    assert store.account_hash("ANN") == ("Ann", "hash1")
    assert store.account_hash("bob") is None
    assert store.account_names() == ["Ann"]
    assert store.account_count() == 1
    with pytest.raises(UnstorableValue):
        store.create_account("bad\udcff", "hash")


def test_who_may_read_an_entry_is_decided_by_its_type(make_store):
    store = make_store()
    store.enter_scope("mallory", "alice")  # mallory is in the room #alice
    store.enter_scope("mallory", EVERYONE)
    store.add_message("PM", "bob", "alice", "to the user alice")
    store.add_message("ROOM", "carol", "alice", "in the room #alice")
    store.add_message("GAME", "tictactoe", "alice", "a game in #alice")
    store.add_message("BM", "carol", EVERYONE, "to everyone online")
    store.add_message("ROOM", "mallory", "alice", "mallory's own")
    store.commit()
    assert [e.text for e in store.history("mallory", 50)] == [
        "in the room #alice", "a game in #alice", "to everyone online", "mallory's own"]
    assert [e.text for e in store.history("alice", 50)] == ["to the user alice"]
    assert [e.text for e in store.history("tictactoe", 50)] == []
    assert [e.receiver for e in store.room_scrollback("alice", 5)] == ["alice"] * 3
    assert [e.text for e in store.history("mallory", 50, room="alice")] == [
        "in the room #alice", "a game in #alice", "mallory's own"]
    assert [e.text for e in store.history("mallory", 50, peer="carol")] == [
        "in the room #alice", "to everyone online"]
    assert [e.text for e in store.history("bob", 50, peer="alice")] == ["to the user alice"]


def test_spans_cover_exactly_what_was_said_while_you_were_there(make_store):
    store = make_store()
    store.add_message("ROOM", "ann", "den", "before")
    store.enter_scope("bob", "den")
    store.add_message("ROOM", "ann", "den", "during 1")
    store.commit()  # the span and the messages it covers: one transaction
    store.add_message("ROOM", "ann", "den", "during 2")
    store.leave_scope("bob", "den")
    store.add_message("ROOM", "ann", "den", "after")
    store.commit()
    assert [e.text for e in store.history("bob", 10)] == ["during 1", "during 2"]
    assert [e.text for e in store.room_scrollback("den", 10)] == [
        "before", "during 1", "during 2", "after"]
    ids = [e.id for e in store.room_scrollback("den", 10)]
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_ids_come_from_the_store_only_once_committed(make_store):
    store = make_store()
    first = store.add_message("ROOM", "ann", "den", "one")
    second = store.add_message("ROOM", "ann", "den", "two")
    assert first.id is None and second.id is None and store.dirty
    store.commit()
    assert first.id is not None and second.id == first.id + 1
    assert not store.dirty
    store.enter_scope("bob", "den")
    dropped = store.add_message("ROOM", "ann", "den", "refused")
    assert store.discard_messages() == 1  # the message goes, bob's span stays queued
    store.add_message("ROOM", "ann", "den", "kept")
    store.commit()
    assert dropped.id is None
    assert [e.text for e in store.history("bob", 10)] == ["kept"]


def test_a_pm_waits_for_its_receiver_and_is_taken_once(make_store):
    store = make_store()
    first = store.add_message("PM", "ann", "bob", "while you were out", queue_for="bob")
    store.commit()
    store.add_message("PM", "ann", "bob", "again", queue_for="bob")
    store.commit()
    taken = store.take_pending_pms("bob")
    assert [e.text for e in taken] == ["while you were out", "again"]
    assert taken[0].id == first.id
    late = store.add_message("PM", "carl", "bob", "queued meanwhile", queue_for="bob")
    store.commit()
    assert [e.text for e in store.take_pending_pms("bob")] == ["queued meanwhile"]
    store.commit()
    assert store.take_pending_pms("bob") == []
    store.queue_pm(late, "bob")  # a stored PM queued again (its delivery failed)
    store.commit()
    assert [e.id for e in store.take_pending_pms("bob")] == [late.id]


def test_games_stats_and_ratings(make_store):
    store = make_store()
    gid = store.save_game(None, "den", {"game": "tictactoe", "board": "x"}, False)
    other = store.save_game(None, "den", {"invite": True}, False)
    assert other != gid
    assert store.live_games() == [(gid, "den", {"game": "tictactoe", "board": "x"}),
                                  (other, "den", {"invite": True})]
    assert store.save_game(gid, "den", {"game": "tictactoe", "board": "xo"}, True) == gid
    store.save_game(other, "den", {"invite": True}, True)  # a cancelled invitation
    assert [g for g, _r, _s in store.live_games()] == []
    assert store.finished_games("den", 5) == [(gid, {"game": "tictactoe", "board": "xo"})]
    assert store.saved_game(gid) == ("den", True, {"game": "tictactoe", "board": "xo"})
    assert store.saved_game(gid + 1000) is None
    store.add_result("ann", "tictactoe", "win")
    store.add_result("ann", "tictactoe", "win")
    store.add_result("ann", "hangman", "draw")
    store.add_result("bob", "tictactoe", "loss")
    store.commit()
    assert store.stats("ann") == [("hangman", 0, 0, 1), ("tictactoe", 2, 0, 0)]
    assert store.stats("bob") == [("tictactoe", 0, 1, 0)]
    rows = [("ann", 1600.0, 200.0, 0.06, 1), ("bob", 1400.0, 200.0, 0.06, 1)]
    assert store.record_rating(gid, "tictactoe", 1.0, "ann", "bob", 1.0, rows) is True
    assert store.record_rating(gid, "tictactoe", 1.0, "ann", "bob", 1.0, rows) is False
    assert store.ratings_of("ann") == {"tictactoe": (1600.0, 200.0, 0.06, 1)}
    assert store.leaderboard("tictactoe", 5) == [("ann", 1600.0, 200.0, 1),
                                                 ("bob", 1400.0, 200.0, 1)]
    assert store.rated_results() == [(gid, "tictactoe", "ann", "bob", 1.0)]
    store.replace_ratings([("bob", "tictactoe", 1700.0, 150.0, 0.06, 2)])
    assert store.leaderboard("tictactoe", 5) == [("bob", 1700.0, 150.0, 2)]


def test_tokens_are_single_use_and_dropped_per_user(make_store):
    store = make_store()
    store.save_token("d1", "ann", 100.0, {"rooms": ["lobby"]})
    store.save_token("d2", "ann", 200.0, {})
    store.save_token("d3", "bob", 300.0, {})
    store.commit()
    assert store.take_token("d1") == ("ann", 100.0, {"rooms": ["lobby"]})
    store.commit()
    assert store.take_token("d1") is None
    store.drop_tokens("ann")
    store.commit()
    assert store.take_token("d2") is None
    assert store.take_token("d3") == ("bob", 300.0, {})


def test_a_store_opened_again_keeps_everything(make_store):
    store = make_store()
    store.create_account("ann", "h")
    store.enter_scope("ann", "den")
    store.add_message("ROOM", "ann", "den", "kept")
    store.close()
    again = make_store()
    assert again.account_hash("ann") == ("ann", "h")
    assert [e.text for e in again.history("ann", 10)] == ["kept"]
    again.add_message("ROOM", "bob", "den", "said after ann's server stopped")
    again.commit()  # ann's span was closed at the start: she was not there for this
    assert [e.text for e in again.history("ann", 10)] == ["kept"]


# ---------------------------------------------------------------- PostgreSQL only


@pytest.fixture
def pg(postgres_url):
    """Opens PostgreSQL stores (nodes) on one database."""
    from gameserver.stores.postgres import PostgresStore

    opened: list[PostgresStore] = []

    def make(node: str = "node") -> PostgresStore:
        opened.append(PostgresStore(postgres_url, node=node))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_nodes_share_one_history_with_ids_in_commit_order(pg):
    a, b = pg(node="a"), pg(node="b")
    a.enter_scope("ann", "den")
    a.commit()
    said_on_b = b.add_message("ROOM", "bob", "den", "from b")
    said_on_a = a.add_message("ROOM", "ann", "den", "from a")
    a.commit()  # a commits first: its id is the smaller one, whoever queued first
    b.commit()
    assert said_on_a.id < said_on_b.id
    assert [e.text for e in a.history("ann", 10)] == ["from a", "from b"]
    assert [e.text for e in b.room_scrollback("den", 10)] == ["from a", "from b"]
    assert a.create_account("zed", "h") is True and b.create_account("Zed", "h") is False


def test_a_node_that_restarts_closes_only_its_own_spans(pg):
    a, b = pg(node="a"), pg(node="b")
    a.enter_scope("ann", "den")
    b.enter_scope("bob", "den")
    a.commit()
    b.commit()
    a.close()
    pg(node="a")  # node a restarts: ann (on a) is no longer in #den; bob (on b) still is
    b.add_message("ROOM", "carl", "den", "after a restarted")
    b.commit()
    assert [e.text for e in b.history("bob", 10)] == ["after a restarted"]
    assert b.history("ann", 10) == []


def test_a_token_is_taken_by_one_node_only(pg):
    a, b = pg(node="a"), pg(node="b")
    a.save_token("d", "ann", 100.0, {})
    a.commit()
    assert b.take_token("d") == ("ann", 100.0, {})
    assert a.take_token("d") is None


def test_losing_the_database_connection_keeps_the_batch_and_recovers(pg, postgres_server):
    import psycopg

    store = pg()
    store.enter_scope("bob", "den")
    entry = store.add_message("ROOM", "ann", "den", "across a lost connection")
    with psycopg.connect(store.url, autocommit=True) as admin:  # the server drops us
        admin.execute("SELECT pg_terminate_backend(%s)", (store.db.info.backend_pid,))
    with pytest.raises(StorageError):
        store.commit()
    assert entry.id is None and store.dirty  # nothing confirmed, nothing lost
    store.commit()  # a new connection, the same batch
    assert entry.id is not None
    assert [e.text for e in store.history("bob", 10)] == ["across a lost connection"]
    with psycopg.connect(store.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store.db.info.backend_pid,))
    # a read on the dead connection is tried once more on a new one: nobody is refused
    assert store.account_hash("ann") is None
    postgres_server.halt()  # with the database really gone, a read fails with a sentence
    try:
        with pytest.raises(StorageError):
            store.account_hash("ann")
    finally:
        postgres_server.resume()
    assert store.account_hash("ann") is None  # and works again once it is back


def test_roles_bans_rules_modlog_and_ignores_are_kept(make_store):
    from test_roles import Clock

    from gameserver.core.roles import HOST, OP, OWNER, Community
    from gameserver.stores.pgcommunity import community_store_for

    store = make_store()
    kept = community_store_for(store)
    clock = Clock()
    c = Community(kept, clock)
    c.set_admin("rita", HOST)
    c.claim("den", "olga")
    c.set_op("den", "oscar", True)
    c.set_op("den", "oscar", True)  # written twice: replaced, not duplicated
    c.sanction("ban", "den", "mallory", None, "spam", "olga")
    c.sanction("ban", "den", "brief", 5)
    c.update_room("den", topic="board games", invite_only=True, slow=3)
    c.update_room("den", topic="games")
    c.invite("den", "ned")
    kept.log("#den", "olga", "ban", "mallory", "spam", ts=1.0)
    kept.set_ignore("Ann", "Bob", True)
    clock.now += 10
    again = community_store_for(make_store())
    loaded = again.load(Community(again, clock))
    assert loaded.rank("rita") == HOST and loaded.rank("oscar", "den") == OP
    assert loaded.rank("olga", "den") == OWNER
    assert loaded.active("ban", "den", "mallory") is not None
    assert loaded.active("ban", "den", "brief") is None
    rules = loaded.rooms["den"]
    assert (rules.topic, rules.invite_only, rules.slow) == ("games", True, 3)
    assert "ned" in rules.invited
    assert again.modlog("#den", 5) == [(1.0, "#den", "olga", "ban", "mallory", "spam")]
    assert again.ignores("ann") == ["Bob"]


def test_an_account_deleted_leaves_its_words_unattributed(make_store):
    from gameserver.communitystore import DELETED_USER
    from gameserver.stores.pgcommunity import community_store_for

    store = make_store()
    kept = community_store_for(store)
    store.create_account("ann", "h")
    store.enter_scope("ann", "den")
    store.add_message("ROOM", "ann", "den", "worth keeping")
    store.add_message("PM", "bob", "ann", "for ann only", queue_for="ann")
    store.add_result("ann", "tictactoe", "win")
    store.save_token("d", "ann", 1.0, {})
    store.commit()
    assert kept.set_password_hash("ann", "h2") is True
    assert store.take_token("d") is None  # a new password ends the old sessions
    assert kept.delete_account("ann") is True and kept.delete_account("ann") is False
    assert store.account_hash("ann") is None
    assert [(e.sender, e.text) for e in store.room_scrollback("den", 5)] == [
        (DELETED_USER, "worth keeping")]
    assert store.take_pending_pms("ann") == [] and store.stats("ann") == []
    assert store.history("ann", 10) == []


def test_a_session_moved_to_another_node_keeps_its_new_span_open(pg):
    a, b = pg(node="a"), pg(node="b")
    a.enter_scope("ann", "den")
    a.commit()
    b.enter_scope("ann", "den")  # ann logs in on node b; b's session replaces a's
    b.commit()
    a.leave_scope("ann", "den")  # node a lets its old session go afterwards
    a.commit()
    b.add_message("ROOM", "bob", "den", "said after the move")
    b.commit()
    assert [e.text for e in b.history("ann", 10)] == ["said after the move"]


def test_a_live_game_is_leased_to_one_node_and_taken_over_when_the_lease_runs_out(pg):
    a, b = pg(node="a"), pg(node="b")
    gid = a.save_game(None, "den", {"game": "tictactoe"}, False)
    assert a.live_games() == [(gid, "den", {"game": "tictactoe"})]  # its own, after a restart
    assert b.live_games() == [] and b.claim_orphan_games() == []  # a holds it
    assert a.renew_game_leases() == {gid}
    b.db.execute("UPDATE games SET lease_until = 0 WHERE id = %s", (gid,))  # a stopped
    assert b.claim_orphan_games() == [(gid, "den", {"game": "tictactoe"})]
    assert b.claim_orphan_games() == []  # taken once
    assert a.renew_game_leases() == set()  # a (if it comes back) knows it lost the game
    assert b.renew_game_leases() == {gid}
    b.save_game(gid, "den", {"game": "tictactoe", "over": True}, True)
    assert b.renew_game_leases() == set() and a.live_games() == []


def test_a_node_that_lost_a_game_s_lease_cannot_write_over_its_new_host(pg):
    """A node that stalled past its lease (or was cut off) and wakes up: its save is
    refused whole, the new host's state stays, and its next lease round drops the game."""
    from gameserver.store import StorageError

    a, b = pg(node="a"), pg(node="b")
    first = a.save_game(None, "den", {"move": 1}, False)
    other = a.save_game(None, "attic", {"move": 1}, False)
    b.db.execute("UPDATE games SET lease_until = 0 WHERE id = %s", (first,))  # a stalled
    assert [gid for gid, _, _ in b.claim_orphan_games()] == [first]
    b.save_game(first, "den", {"move": 2, "host": "b"}, False)
    with pytest.raises(StorageError, match="hosted by another node"):
        a.save_games([(other, "attic", {"move": 2}, False), (first, "den", {"move": 9}, False)])
    with pytest.raises(StorageError, match="hosted by another node"):
        a.save_game(first, "den", {"move": 9}, False)
    states = {gid: state for gid, _, state in b.live_games()}
    assert states[first] == {"move": 2, "host": "b"}
    assert {gid: state for gid, _, state in a.live_games()} == {other: {"move": 1}}  # whole
    assert a.renew_game_leases() == {other}  # a learns which one it lost


def test_device_keys_and_sealed_pms_are_their_owners_only(make_store):
    from gameserver.stores.pgcommunity import community_store_for

    store = make_store()
    store.create_account("ann", "h")
    store.add_device_key("Ann", "key1", "laptop")
    store.add_device_key("ann", "key1", "laptop again")  # a known key stays as it was
    store.add_device_key("ann", "key2", "phone")
    store.add_message("EPM", "bob", "ann", "sealed envelope")
    store.commit()
    assert [(k, d) for k, d, _ in store.device_keys("ANN")] == [("key1", "laptop"),
                                                                 ("key2", "phone")]
    assert [e.type for e in store.history("ann", 10)] == ["EPM"]
    assert [e.type for e in store.history("bob", 10, peer="ann")] == ["EPM"]
    assert store.history("carol", 10) == []
    assert community_store_for(store).delete_account("ann") is True
    assert store.device_keys("ann") == [] and store.history("bob", 10) == []


def test_a_room_line_keeps_the_nick_its_speaker_had_then(make_store):
    """The scrollback names a speaker as the live chat did; a deleted user's nick goes too."""
    from gameserver.communitystore import DELETED_USER
    from gameserver.stores.pgcommunity import community_store_for

    store = make_store()
    store.create_account("bob", "x")
    store.add_message("ROOM", "bob", "den", "as bob", nick="bob")  # the same: nothing kept
    store.add_message("ROOM", "bob", "den", "as Bobby", nick="Bobby")
    store.add_message("GAME", "tictactoe", "den", "game over")
    store.add_message("ROOM", "ann", "den", "no nick given")
    store.commit()
    back = store.room_scrollback("den", 10)
    assert [(e.sender, e.nick, e.text) for e in back] == [
        ("bob", None, "as bob"), ("bob", "Bobby", "as Bobby"),
        ("tictactoe", None, "game over"), ("ann", None, "no nick given")]
    assert back[1].to_wire()["nick"] == "Bobby" and "nick" not in back[0].to_wire()
    store.add_message("ROOM", "bob", "den", "refused", nick="Bobby")
    store.discard_messages()  # a refused line's nick is refused with it
    store.commit()
    assert len(store.room_scrollback("den", 10)) == 4
    assert community_store_for(store).delete_account("bob")
    gone = store.room_scrollback("den", 10)
    assert [(e.sender, e.nick) for e in gone[:2]] == [(DELETED_USER, None)] * 2


@pytest.mark.parametrize("field", ["sender", "receiver", "text", "nick"])
def test_a_queued_line_the_store_cannot_hold_is_refused_at_once(make_store, field):
    """Every value of a line is the store's own to check, ASCII or not, on each backend:
    a lone surrogate anywhere, and on PostgreSQL a NUL (ASCII) too, is refused before
    anything is queued; what SQLite can hold comes back as it was."""
    store = make_store()
    line = {"sender": "bob", "receiver": "den", "text": "hi", "nick": "Bobby"}

    def add(value: str) -> None:
        values = dict(line, **{field: value})
        store.add_message("ROOM", values["sender"], values["receiver"], values["text"],
                          nick=values["nick"])

    with pytest.raises(UnstorableValue):
        add("x\udcff")
    assert not store.dirty
    if make_store.backend == "postgresql":
        with pytest.raises(UnstorableValue):
            add("x\x00y")
        assert not store.dirty
    else:
        add("x\x00y")
        store.commit()
        [back] = store.room_scrollback(line["receiver"] if field != "receiver" else "x\x00y", 5)
        assert getattr(back, field) == "x\x00y"


def test_nicks_kept_in_the_old_room_nicks_table_move_into_their_lines(make_store):
    """Stores made before the nick column kept each line's nick in room_nicks: opened
    again, the scrollback names the speakers as before, and new lines keep theirs."""
    store = make_store()
    store.add_message("ROOM", "bob", "den", "as Bobby", nick="Bobby")
    store.add_message("ROOM", "ann", "den", "as ann")
    store.commit()
    old_layout = ("CREATE TABLE room_nicks (message_id BIGINT PRIMARY KEY, nick TEXT NOT NULL);"
                  " INSERT INTO room_nicks SELECT id, nick FROM messages WHERE nick <> '';"
                  " ALTER TABLE messages DROP COLUMN nick;")
    if make_store.backend == "sqlite":
        store.db.executescript(old_layout)
        store.close()
        from gameserver.store import SQLiteStore

        readonly = SQLiteStore(store.path, readonly=True)  # `play history`: as it is
        assert [e.nick for e in readonly.room_scrollback("den", 5)] == ["Bobby", None]
        readonly.close()
    else:
        store.db.execute(old_layout)
        store.close()
    again = make_store()
    again.add_message("ROOM", "bob", "den", "as Bob2", nick="Bob2")
    again.commit()
    assert [(e.sender, e.nick, e.text) for e in again.room_scrollback("den", 5)] == [
        ("bob", "Bobby", "as Bobby"), ("ann", None, "as ann"), ("bob", "Bob2", "as Bob2")]
    make_store().close()  # opened once more (another node): nothing left to move


def test_account_names_by_prefix_any_case_bounded(make_store):
    store = make_store()
    for name in ("Ann", "anna", "Bob", "annika", "Zed"):
        store.create_account(name, "x")
    assert store.account_names_from("an", 10) == ["Ann", "anna", "annika"]
    assert store.account_names_from("AN", 2) == ["Ann", "anna"]
    assert store.account_names_from("", 10) == ["Ann", "anna", "annika", "Bob", "Zed"]
    assert store.account_names_from("x", 10) == []
    assert store.account_names_from("%", 10) == [] and store.account_names_from("_", 10) == []
