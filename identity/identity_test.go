package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
)

func TestFromContext(t *testing.T) {
	_, ok := identity.FromContext(context.Background())
	assert.False(t, ok, "no principal")

	ctx := identity.NewContext(context.Background(), identity.Principal{Roles: []string{"admin"}})
	_, ok = identity.FromContext(ctx)
	assert.False(t, ok, "an anonymous principal is no principal, whatever its roles")

	ctx = identity.NewContext(context.Background(), identity.Principal{UserID: "u1", Roles: []string{"admin"}})
	p, ok := identity.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, "u1", p.UserID)
	assert.True(t, p.HasRole("admin"))
	assert.False(t, p.HasRole("Admin"), "roles compare exactly")
}

func TestMethods(t *testing.T) {
	p := identity.Principal{UserID: "u1", Methods: []identity.Method{identity.MethodPassword}}
	assert.False(t, p.MFA())
	q := p.With(identity.MethodOTP).With(identity.MethodOTP)
	assert.Equal(t, []identity.Method{identity.MethodPassword, identity.MethodOTP}, q.Methods, "no repeats")
	assert.Equal(t, []identity.Method{identity.MethodPassword}, p.Methods, "With copies")
	assert.True(t, q.Has(identity.MethodOTP))
	assert.False(t, q.MFA(), "MFA needs MFATime or the mfa method")
	q.MFATime = time.Unix(1, 0)
	assert.True(t, q.MFA())
	assert.True(t, identity.Principal{Methods: []identity.Method{identity.MethodMultiFactor}}.MFA())
}

func TestJSON(t *testing.T) {
	b, err := json.Marshal(identity.Principal{UserID: "u1", Roles: []string{"seller"}, Methods: []identity.Method{"pwd"},
		AuthTime: time.Unix(1, 0), SessionRef: "s"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"user_id":"u1","roles":["seller"],"amr":["pwd"]}`, string(b), "times and the session stay out of audit records")
	b, err = json.Marshal(identity.Principal{})
	require.NoError(t, err)
	assert.Equal(t, `{}`, string(b))
}

func Example() {
	// Package session does this for every request with a signed-in user.
	ctx := identity.NewContext(context.Background(), identity.Principal{
		UserID:  "u42",
		Roles:   []string{"seller"},
		Methods: []identity.Method{identity.MethodPassword, identity.MethodOTP},
	})

	// A handler asks who is signed in.
	if p, ok := identity.FromContext(ctx); ok {
		fmt.Println(p.UserID, p.HasRole("seller"), p.Has(identity.MethodOTP))
	}
	// Output: u42 true true
}
