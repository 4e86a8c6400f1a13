-- Files that flags name (images, audio clips), kept once by content: the
-- name is <sha256>.<ext>. The feedback row lists its files' names (JSON).
ALTER TABLE feedback ADD COLUMN files TEXT;
CREATE TABLE feedback_files (
    name TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at TEXT NOT NULL
);
