BEGIN;
CREATE TABLE IF NOT EXISTS phones (
    phone TEXT PRIMARY KEY, user_id INTEGER NOT NULL, event BLOB, state TEXT);
CREATE TABLE IF NOT EXISTS lists (
    list_id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, name TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS list_members (
    list_id INTEGER, member_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (list_id, member_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashtag_timeline (
    tag TEXT, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (tag, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mention_timeline (
    user_id INTEGER, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages_by_user (
    user_id INTEGER, message_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (
    user_id INTEGER, other_id INTEGER, message_id INTEGER, body BLOB NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (user_id, other_id, message_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trend_minutes (
    minute INTEGER, log_partition INTEGER, counts BLOB NOT NULL,
    applied_offset INTEGER NOT NULL, expires_s REAL NOT NULL,
    PRIMARY KEY (minute, log_partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trend_tweets (
    minute INTEGER, log_partition INTEGER, tweet_id INTEGER, delta INTEGER NOT NULL,
    applied_offset INTEGER NOT NULL, expires_s REAL NOT NULL,
    PRIMARY KEY (minute, log_partition, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS home_activity (
    user_id INTEGER PRIMARY KEY, last_read_us INTEGER NOT NULL DEFAULT 0,
    reactivated_us INTEGER NOT NULL DEFAULT 0, rebuilt_us INTEGER NOT NULL DEFAULT 0);
COMMIT;
