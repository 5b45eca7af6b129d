-- Second factors move to the mfa/sqlstore package, which the app opens
-- with the table prefix "mfa": its tables are mfa_totp,
-- mfa_recovery_codes and mfa_credentials, with the columns of the app's
-- own. mfa_totp and mfa_recovery_codes are already those; the passkeys
-- table takes its new name (rows, and the foreign key to users, stay) and
-- its index the name the package gives it, so that the package's Migrate,
-- run after these migrations, finds every table and index in place and
-- only records its version.
ALTER TABLE webauthn_credentials RENAME TO mfa_credentials;
DROP INDEX webauthn_credentials_user;
CREATE INDEX mfa_credentials_user_idx ON mfa_credentials(user_id, created_at);
