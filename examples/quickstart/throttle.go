package main

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/deployedworks/rampart/ratelimit"
)

// authThrottle fits ratelimit.LoginThrottle, which reads the client's
// address from the context and refuses with a *ratelimit.LimitedError, to
// the auth package's Throttle interface of before. It goes away once
// auth.Throttle has the throttle's shape (Check(ctx, account) error, and
// Failed and Succeeded without the address).
type authThrottle struct{ *ratelimit.LoginThrottle }

func (t authThrottle) Check(ctx context.Context, account string, _ netip.Addr) (time.Duration, error) {
	err := t.LoginThrottle.Check(ctx, account)
	if le, ok := errors.AsType[*ratelimit.LimitedError](err); ok {
		return le.RetryAfter, nil
	}
	return 0, err
}

func (t authThrottle) Failed(ctx context.Context, account string, _ netip.Addr) error {
	return t.LoginThrottle.Failed(ctx, account)
}

func (t authThrottle) Succeeded(ctx context.Context, account string, _ netip.Addr) error {
	return t.LoginThrottle.Succeeded(ctx, account)
}
