package password_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployedworks/rampart/auth/password"
)

// Hash a password at registration and verify it at login. (The cheap
// parameters keep the example fast; leave HasherConfig.Params zero in
// production.)
func Example() {
	h, err := password.NewHasher(password.HasherConfig{
		Params:          password.Params{Memory: 256, Time: 1, Threads: 1},
		AllowWeakParams: true,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(encoded[:29])

	needsRehash, err := h.Verify(ctx, "correct horse battery staple", encoded)
	fmt.Println(err, needsRehash)
	_, err = h.Verify(ctx, "Tr0ub4dor&3", encoded)
	fmt.Println(errors.Is(err, password.ErrMismatch))
	// Output:
	// $argon2id$v=19$m=256,t=1,p=1$
	// <nil> false
	// true
}

// A legacy bcrypt hash verifies and asks to be replaced.
func ExampleHasher_Verify_legacy() {
	h, _ := password.NewHasher(password.HasherConfig{Params: password.Params{Memory: 256, Time: 1, Threads: 1}, AllowWeakParams: true})
	needsRehash, err := h.Verify(context.Background(), "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	fmt.Println(err, needsRehash)
	// Output: <nil> true
}

// Check a new password; show the message, branch on the code.
func ExamplePolicy_Check() {
	p, err := password.NewPolicy(password.PolicyConfig{SiteWords: []string{"Marketplace"}})
	if err != nil {
		panic(err)
	}
	user := password.Context{UserName: "alice", Email: "alice@example.org"}
	for _, pw := range []string{"password123", "marketplace2026!", "alice likes velvet lanterns"} {
		err := p.Check(context.Background(), pw, user)
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			fmt.Printf("%s: %s\n", pe.Code, pe.Message)
			continue
		}
		fmt.Println("accepted")
	}
	// Output:
	// too_short: Use at least 15 characters. A few unrelated words make a long password easy to remember.
	// context_word: This password is too common or too easy to guess: it is built on your user name, e-mail address or the name of this site. A few unrelated words make a better one.
	// accepted
}

// Choose parameters on the production host at deployment time.
func ExampleCalibrate() {
	c, err := password.Calibrate(context.Background(), password.CalibrateConfig{Target: 250 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Printf("HasherConfig.Params: %v, %v per hash\n", c.Params, c.Took)
}
