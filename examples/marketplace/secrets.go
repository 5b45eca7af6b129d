package main

import (
	"bufio"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/secrets"
)

// Names of the app's secrets. Each is read from the environment variable
// of that name or from the file named by NAME_FILE.
const (
	envSessionKeys    = "MARKETPLACE_SESSION_KEYS"    // keyring for session data at rest: "ID:base64key[,ID:base64key…]"
	envDataKeys       = "MARKETPLACE_DATA_KEYS"       // keyring for TOTP secrets at rest, same format
	envAuditKey       = "MARKETPLACE_AUDIT_KEY"       // HMAC key of the audit chain, base64, ≥32 bytes
	envPepper         = "MARKETPLACE_PEPPER"          // password pepper, base64, ≥32 bytes
	envPepperPrevious = "MARKETPLACE_PEPPER_PREVIOUS" // optional: the pepper before a rotation
	envRecoveryKey    = "MARKETPLACE_RECOVERY_KEY"    // HMAC key of recovery codes, base64, ≥32 bytes
)

// secretSpecs are the secrets the app needs, in the order they are
// reported.
func secretSpecs() []secrets.Spec {
	return []secrets.Spec{
		{Name: envSessionKeys, Encoding: secrets.Raw},
		{Name: envDataKeys, Encoding: secrets.Raw},
		{Name: envAuditKey, Encoding: secrets.Base64, MinLen: 32},
		{Name: envPepper, Encoding: secrets.Base64, MinLen: 32},
		{Name: envRecoveryKey, Encoding: secrets.Base64, MinLen: 32},
	}
}

// devSecretsFile is where development mode keeps the secrets it generated.
const devSecretsFile = "dev-secrets.env" // #nosec G101 -- a file name, not a credential

// envBackupKeys is the keyring that seals backups ("ID:base64key[,…]",
// like the other keyrings). Only the backup, restore and backup-verify
// commands read it; in production they refuse to run without it.
const envBackupKeys = "MARKETPLACE_BACKUP_KEYS"

// appSecrets are the loaded secrets, ready for the components.
type appSecrets struct {
	SessionKeys *secrets.Keyring
	DataKeys    *secrets.Keyring
	AuditKey    secrets.Value
	Peppers     []password.Pepper
	RecoveryKey secrets.Value
	// LoginDigestKey names login names with no account in audit events
	// (auth.AuthenticatorConfig.LoginDigestKey), derived from AuditKey:
	// every instance with the same secrets has the same key, so that the
	// shared detector counts an attack on a name that does not exist once.
	LoginDigestKey []byte
	// BackupKeys seals backups; loaded only with secretsOptions.backup.
	BackupKeys *secrets.Keyring
	// SMTP is envSMTPURL, loaded only with secretsOptions.mail: required
	// in production, optional (zero) in development.
	SMTP secrets.Value
	// Generated names the secrets development mode generated in this run.
	Generated []string
	// FromDataDir names the secrets development mode read from (or
	// generated into) dataDir/dev-secrets.env rather than the source:
	// secrets of this data directory alone, which other instances of the
	// same site do not share.
	FromDataDir []string
}

// secretsOptions say how loadSecretsWith finds the secrets.
type secretsOptions struct {
	// prod requires every secret from the source: nothing is read from or
	// generated into the data directory.
	prod bool
	// noGenerate, in development, reads dataDir/dev-secrets.env but
	// generates nothing: restoring a backup needs the secrets it was made
	// with, and fresh ones would silently not match.
	noGenerate bool
	// backup also loads envBackupKeys.
	backup bool
	// mail also loads envSMTPURL, which production requires (the server
	// sends mail; the commands do not). Development never generates it.
	mail bool
}

// loadSecrets reads the app's secrets from src. In production every one
// must be set: the error names each that is missing or invalid. In
// development, a missing secret is read from, or generated into,
// dataDir/dev-secrets.env, so that data written in one run (password
// hashes, TOTP secrets, the audit chain) stays readable in the next and by
// the create-admin command. A secret that is set but invalid is an error in
// both modes.
func loadSecrets(ctx context.Context, src secrets.Source, prod bool, dataDir string) (*appSecrets, error) {
	return loadSecretsWith(ctx, src, dataDir, secretsOptions{prod: prod})
}

// loadSecretsWith is loadSecrets with options.
func loadSecretsWith(ctx context.Context, src secrets.Source, dataDir string, opt secretsOptions) (*appSecrets, error) {
	if src == nil {
		src = secrets.Env{}
	}
	specs := secretSpecs()
	if opt.backup {
		specs = append(specs, secrets.Spec{Name: envBackupKeys, Encoding: secrets.Raw})
	}
	if opt.mail && opt.prod {
		specs = append(specs, smtpSpec)
	}
	devFile := filepath.Join(dataDir, devSecretsFile)
	var generated, fromDataDir []string
	if !opt.prod {
		for _, sp := range specs {
			if _, ok, err := src.Lookup(ctx, sp.Name); err == nil && !ok {
				fromDataDir = append(fromDataDir, sp.Name)
			}
		}
		dev, err := readDevSecrets(devFile)
		if err != nil {
			return nil, err
		}
		src = layered{first: src, then: dev}
		for _, sp := range specs {
			_, err := secrets.Load(ctx, src, sp)
			if opt.noGenerate || err == nil || !errors.Is(err, secrets.ErrMissing) {
				continue
			}
			dev[sp.Name] = devSecret(sp.Name)
			generated = append(generated, sp.Name)
		}
		if len(generated) > 0 {
			if err := writeDevSecrets(devFile, dev); err != nil {
				return nil, err
			}
		}
	}
	vals, err := secrets.LoadAll(ctx, src, specs...)
	if err != nil {
		var le *secrets.LoadError
		if !errors.As(err, &le) {
			return nil, err
		}
		names := strings.Join(le.Names(), ", ")
		if !opt.prod && opt.noGenerate {
			return nil, fmt.Errorf("secrets: missing %s, neither in the environment nor in %s. "+
				"Development secrets are generated for one data directory and kept in its %s; a backup made in development "+
				"can only be restored with that file (it holds the backup key, and the pepper and keys the restored accounts need): "+
				"copy it into %s, or set the secrets in the environment: %w", names, devFile, devSecretsFile, dataDir, err)
		}
		return nil, fmt.Errorf("secrets: cannot start without %s (set each as an environment variable or NAME_FILE; see README): %w", names, err)
	}
	out := &appSecrets{AuditKey: vals[envAuditKey], RecoveryKey: vals[envRecoveryKey], Generated: generated, FromDataDir: fromDataDir}
	if out.LoginDigestKey, err = loginDigestKey(out.AuditKey); err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", envAuditKey, err)
	}
	if out.SessionKeys, err = secrets.ParseKeyring(vals[envSessionKeys]); err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", envSessionKeys, err)
	}
	if out.DataKeys, err = secrets.ParseKeyring(vals[envDataKeys]); err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", envDataKeys, err)
	}
	if opt.backup {
		if out.BackupKeys, err = secrets.ParseKeyring(vals[envBackupKeys]); err != nil {
			return nil, fmt.Errorf("secrets: %s: %w", envBackupKeys, err)
		}
	}
	out.Peppers = append(out.Peppers, pepper(vals[envPepper]))
	if opt.mail {
		if opt.prod {
			out.SMTP = vals[envSMTPURL]
		} else if out.SMTP, err = secrets.Load(ctx, src, smtpSpec); err != nil && !errors.Is(err, secrets.ErrMissing) {
			return nil, err
		}
	}
	prev, err := secrets.Load(ctx, src, secrets.Spec{Name: envPepperPrevious, Encoding: secrets.Base64, MinLen: 32})
	switch {
	case err == nil:
		out.Peppers = append(out.Peppers, pepper(prev))
	case !errors.Is(err, secrets.ErrMissing):
		return nil, err
	}
	return out, nil
}

// pepper names a pepper key by a short hash of it, so that rotating the key
// changes its ID without any configuration. 32 bits of a hash of a 256-bit
// key reveal nothing useful.
func pepper(v secrets.Value) password.Pepper {
	key := v.Reveal()
	sum := sha256.Sum256(append([]byte("marketplace pepper id\x00"), key...))
	return password.Pepper{ID: "p-" + hex.EncodeToString(sum[:4]), Key: key}
}

// loginDigestKey derives the key of the digests that name unknown login
// names in audit from the audit key, with HKDF-SHA-256 (RFC 5869) under a
// label of its own, so that it differs from the chain's key and from
// anything else derived from it, and needs no secret of its own.
// Rotating the audit key changes the digests: counts of failures against
// a name with no account start again.
func loginDigestKey(auditKey secrets.Value) ([]byte, error) {
	return hkdf.Key(sha256.New, auditKey.Reveal(), nil, "marketplace login digest v1", 32)
}

// devSecret generates a development value for the named secret.
func devSecret(name string) string {
	key := base64.StdEncoding.EncodeToString(secrets.Random(32).Reveal())
	switch name {
	case envSessionKeys, envDataKeys, envBackupKeys:
		return "dev:" + key
	}
	return key
}

// layered looks a secret up in first, then in then.
type layered struct {
	first secrets.Source
	then  map[string]string
}

func (l layered) Lookup(ctx context.Context, name string) ([]byte, bool, error) {
	v, ok, err := l.first.Lookup(ctx, name)
	if err != nil || ok {
		return v, ok, err
	}
	if s, ok := l.then[name]; ok && s != "" {
		return []byte(s), true, nil
	}
	return nil, false, nil
}

// readDevSecrets reads NAME=value lines; a missing file is empty.
func readDevSecrets(path string) (map[string]string, error) {
	out := map[string]string{}
	f, err := os.Open(path) // #nosec G304 -- the secrets file path from the operator's configuration
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: read development secrets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("secrets: %s: malformed line (want NAME=value)", path)
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("secrets: read development secrets: %w", err)
	}
	return out, nil
}

// writeDevSecrets writes vals with mode 0600.
func writeDevSecrets(path string, vals map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets: write development secrets: %w", err)
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Generated by the marketplace in development mode. NOT for production:\n")
	b.WriteString("# with -prod, set these as environment variables (or NAME_FILE) from a secret store.\n")
	for _, n := range names {
		b.WriteString(n + "=" + vals[n] + "\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("secrets: write development secrets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("secrets: write development secrets: %w", err)
	}
	return nil
}
