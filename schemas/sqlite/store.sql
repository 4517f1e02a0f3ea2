BEGIN;
CREATE TABLE IF NOT EXISTS handle_claims (
    handle_key TEXT PRIMARY KEY, user_id INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS user_registry (
    user_id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT NOT NULL,
    created_ms INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT NOT NULL,
    created_ms INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users_by_handle (
    handle_key TEXT PRIMARY KEY, user_id INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS following (
    user_id INTEGER, followee_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, followee_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS followers (
    user_id INTEGER, follower_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, follower_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_counts (
    user_id INTEGER, log_partition INTEGER, followers INTEGER NOT NULL,
    following INTEGER NOT NULL, applied_offset INTEGER NOT NULL,
    PRIMARY KEY (user_id, log_partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tweets (
    tweet_id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, body BLOB NOT NULL,
    ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_timeline (
    user_id INTEGER, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_timeline (
    user_id INTEGER, tweet_id INTEGER, author_id INTEGER NOT NULL, body BLOB NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS celebrities (author_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tombstones (
    tbl TEXT, k1, k2, ts INTEGER NOT NULL,
    PRIMARY KEY (tbl, k1, k2)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_trims (
    user_id INTEGER, bound INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, bound)) WITHOUT ROWID;
COMMIT;
