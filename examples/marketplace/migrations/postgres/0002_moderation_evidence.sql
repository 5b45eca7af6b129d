-- Moderation evidence: the content of a listing as it was when it was
-- reported or moderated, kept whatever the seller changes later. One row
-- per distinct content of a listing (reports on unchanged content share
-- it). Reports and decisions recorded before this migration have none
-- (snapshot_id NULL).
CREATE TABLE listing_snapshots (
    id          TEXT PRIMARY KEY,
    listing_id  TEXT NOT NULL REFERENCES listings(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX listing_snapshots_listing ON listing_snapshots(listing_id, created_at);

ALTER TABLE reports ADD COLUMN snapshot_id TEXT REFERENCES listing_snapshots(id);
ALTER TABLE moderation_actions ADD COLUMN snapshot_id TEXT REFERENCES listing_snapshots(id);
