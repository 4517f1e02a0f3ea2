BEGIN;
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint BLOB NOT NULL, owner TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL, events BLOB, status INTEGER, body BLOB,
    done INTEGER NOT NULL DEFAULT 0, expires_s REAL NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_s);
DROP TABLE IF EXISTS idempotency;
COMMIT;
