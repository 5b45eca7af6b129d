-- Whether the user proved they read their address (a verification or
-- change-of-address link, package account). Existing accounts start
-- unverified.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
