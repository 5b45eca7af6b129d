-- The one-time setup token of the deployment (at most one row): the
-- SHA-256 of the token, hex, and when it was minted. Kept in the
-- database, not in an instance's memory, so that the token printed by the
-- instance that minted it works on every instance behind a load balancer,
-- and is consumed once for all of them.
CREATE TABLE setup_token (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Which instance last ran each periodic clean-up task (the janitor's
-- lease): a task runs when its row is claimed, once per period for the
-- whole deployment, not once per instance.
CREATE TABLE janitor_runs (
    task   TEXT PRIMARY KEY,
    ran_at BIGINT NOT NULL
);
