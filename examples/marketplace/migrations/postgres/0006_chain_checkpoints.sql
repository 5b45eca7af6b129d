-- Checkpoints of each instance's audit chain (audit/chain Sink.Checkpoint),
-- shipped by the server at start, hourly and at shutdown, so that the
-- audit-verify command can detect a chain rewritten by someone holding the
-- audit key. With MARKETPLACE_AUDIT_DATABASE_URL the checkpoints go to the
-- audit database instead (audit-setup creates the table there), where the
-- app cannot change them.
CREATE TABLE chain_checkpoints (
    instance TEXT NOT NULL,
    seq BIGINT NOT NULL,
    mac TEXT NOT NULL,
    time_ns BIGINT NOT NULL
);
CREATE INDEX chain_checkpoints_instance_idx ON chain_checkpoints (instance, seq);
