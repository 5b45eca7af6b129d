package secrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/deployedworks/rampart/secrets"
)

// exampleEnv stands in for the process environment; a real application uses
// secrets.Env{}.
func exampleEnv(vars map[string]string) secrets.Env {
	return secrets.Env{LookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
}

// An application in production mode refuses to start, naming every secret
// that is missing or invalid.
func ExampleLoadAll() {
	ctx := context.Background()
	env := exampleEnv(map[string]string{
		"APP_PEPPER":      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"APP_DB_PASSWORD": "short",
	})
	specs := []secrets.Spec{
		{Name: "APP_PEPPER", Encoding: secrets.Base64, MinLen: 32},
		{Name: "APP_DB_PASSWORD", Encoding: secrets.Raw, MinLen: 12},
		{Name: "APP_KEYS", Encoding: secrets.Raw},
	}

	_, err := secrets.LoadAll(ctx, env, specs...)
	var le *secrets.LoadError
	if errors.As(err, &le) {
		fmt.Println("refusing to start; fix:", le.Names())
		for _, e := range le.Errors {
			fmt.Println(" ", e)
		}
	}
	// Output:
	// refusing to start; fix: [APP_DB_PASSWORD APP_KEYS]
	//   secrets: APP_DB_PASSWORD: invalid: shorter than 12 bytes
	//   secrets: APP_KEYS: not set; set APP_KEYS, or APP_KEYS_FILE to the path of a file holding it
}

// In development mode an application may fall back to a throw-away secret
// when none is configured, and say so.
func ExampleLoad() {
	ctx := context.Background()
	env := exampleEnv(nil) // nothing configured
	devMode := true

	spec := secrets.Spec{Name: "APP_SESSION_KEY", Encoding: secrets.Base64, MinLen: 32}
	key, err := secrets.Load(ctx, env, spec)
	if errors.Is(err, secrets.ErrMissing) && devMode {
		fmt.Println("dev mode:", spec.Name, "not set; using a random key (sessions end at restart)")
		key = secrets.Random(32)
	} else if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(key.Len(), "byte key:", key)
	// Output:
	// dev mode: APP_SESSION_KEY not set; using a random key (sessions end at restart)
	// 32 byte key: [REDACTED]
}

// A Value stays redacted wherever it goes, until Reveal.
func ExampleValue() {
	password := secrets.NewValue([]byte("hunter2"))

	fmt.Println(password)
	fmt.Printf("%v %+v %#v %s %q %x %d\n", password, password, password, password, password, password, password)

	cfg := struct {
		User     string
		Password secrets.Value
	}{"app", password}
	fmt.Printf("%+v\n", cfg)
	j, _ := json.Marshal(cfg)
	fmt.Println(string(j))

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	logger.Info("connecting", "user", cfg.User, "password", password)

	fmt.Println(string(password.Reveal())) // only where the bytes are needed
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED]
	// {User:app Password:[REDACTED]}
	// {"User":"app","Password":"[REDACTED]"}
	// level=INFO msg=connecting user=app password=[REDACTED]
	// hunter2
}

// Encrypt a field bound to its owner: the same ciphertext copied to another
// user's row does not decrypt.
func ExampleKeyring_Encrypt() {
	keys, err := secrets.ParseKeyring(secrets.NewValue([]byte(
		"2026-06:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")))
	if err != nil {
		fmt.Println(err)
		return
	}
	ct, err := keys.Encrypt([]byte("JBSWY3DPEHPK3PXP"), []byte("mfa.totp:user-42"))
	if err != nil {
		fmt.Println(err)
		return
	}

	pt, err := keys.Decrypt(ct, []byte("mfa.totp:user-42"))
	fmt.Printf("%s %v\n", pt, err)

	_, err = keys.Decrypt(ct, []byte("mfa.totp:user-43"))
	fmt.Println(errors.Is(err, secrets.ErrTampered))
	// Output:
	// JBSWY3DPEHPK3PXP <nil>
	// true
}

// Rotate stored data onto a new primary key, then retire the old key.
func ExampleKeyring_Rotate() {
	const (
		oldKey = "2025-12:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
		newKey = "2026-06:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
	)
	ad := []byte("backup:2026-06-25")
	before, _ := secrets.ParseKeyring(secrets.NewValue([]byte(oldKey)))
	stored, _ := before.Encrypt([]byte("backup contents"), ad)

	// APP_KEYS now lists the new key first: it is the primary.
	keys, err := secrets.ParseKeyring(secrets.NewValue([]byte(newKey + "," + oldKey)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("primary:", keys.PrimaryID())
	fmt.Println("needs rotation:", keys.NeedsRotation(stored))

	stored, rotated, err := keys.Rotate(stored, ad)
	fmt.Println("rotated:", rotated, err)
	fmt.Println("needs rotation:", keys.NeedsRotation(stored))

	// Once every row is rotated, the old key can go.
	after, _ := secrets.ParseKeyring(secrets.NewValue([]byte(newKey)))
	pt, err := after.Decrypt(stored, ad)
	fmt.Printf("%s %v\n", pt, err)
	// Output:
	// primary: 2026-06
	// needs rotation: true
	// rotated: true <nil>
	// needs rotation: false
	// backup contents <nil>
}
