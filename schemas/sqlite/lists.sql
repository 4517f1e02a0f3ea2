BEGIN;
CREATE TABLE IF NOT EXISTS list_counts (
    list_id INTEGER PRIMARY KEY, members INTEGER NOT NULL, applied_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lists_by_member (
    member_id INTEGER, list_id INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (member_id, list_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_timeline (
    list_id INTEGER, tweet_id INTEGER, author_id INTEGER NOT NULL, body BLOB NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (list_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_trims (
    list_id INTEGER, bound INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (list_id, bound)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_author_tweets (
    author_id INTEGER, tweet_id INTEGER, body BLOB NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (author_id, tweet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_author_trims (
    author_id INTEGER, bound INTEGER, ts INTEGER NOT NULL,
    PRIMARY KEY (author_id, bound)) WITHOUT ROWID;
COMMIT;
