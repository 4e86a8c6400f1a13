-- One row per flag. Portable SQL: the same migration runs on SQLite and
-- Postgres. Ids and timestamps are made by Wick (time-ordered text), so no
-- engine-specific auto-increment or clock is needed.
CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    flag TEXT NOT NULL,
    comment TEXT,
    duration_ms DOUBLE PRECISION,
    username TEXT
);

CREATE INDEX feedback_by_time ON feedback (created_at);
CREATE INDEX feedback_by_model ON feedback (model, version, created_at);
