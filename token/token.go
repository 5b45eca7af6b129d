package token

import (
	"context"
	"errors"
	"time"
)

// Purpose is what a token may be used for. A token is bound to the purpose
// it was issued for: redeemed for another, it is [ErrInvalid].
type Purpose string

// Purposes.
const (
	// PasswordReset is a link that lets its holder set a new password.
	// Default lifetime 30 minutes.
	PasswordReset Purpose = "password_reset"
	// EmailVerify is a link that proves the holder reads the address given
	// at sign-up. Default lifetime 24 hours.
	EmailVerify Purpose = "email_verify"
	// EmailChange is a link, sent to a new address, that confirms a change
	// of address; [Record.Data] holds the new address (package account
	// adds a digest of the password hash the change was asked with).
	// Default lifetime 1 hour.
	EmailChange Purpose = "email_change"
	// EmailChangeUndo is a link, sent to the old address when a change
	// of address is asked for or made, that cancels or reverts it: the
	// owner's way back when someone else changed the address. It is a
	// purpose of its own, so that the undo link mailed to the old address
	// cannot confirm the change, and issuing it does not void the
	// confirmation link. Default lifetime 7 days: the owner of the old
	// address may not read it at once.
	EmailChangeUndo Purpose = "email_change_undo"
)

// purposes lists the known purposes with their default and longest
// lifetimes.
var purposes = []struct {
	p        Purpose
	def, max time.Duration
}{
	{PasswordReset, 30 * time.Minute, 24 * time.Hour},
	{EmailVerify, 24 * time.Hour, 7 * 24 * time.Hour},
	{EmailChange, time.Hour, 24 * time.Hour},
	{EmailChangeUndo, 7 * 24 * time.Hour, 7 * 24 * time.Hour},
}

func known(p Purpose) bool {
	for _, k := range purposes {
		if k.p == p {
			return true
		}
	}
	return false
}

// Record is what a [Store] keeps of one token: never the token, only its
// SHA-256.
type Record struct {
	// Hash is the SHA-256 of the token's 32 random bytes. It identifies
	// the record: a store holds at most one record per Hash.
	Hash []byte
	// UserID is the user the token was issued to.
	UserID string
	// Purpose is what the token may be used for.
	Purpose Purpose
	// Data is opaque to the store, at most 1 KiB of any bytes: the new
	// address for [EmailChange] (and, as package account issues it, a
	// digest of the password hash); for [PasswordReset], a digest of the
	// password hash the user had when the token was issued (see the
	// package doc).
	Data string
	// Created is when the token was issued, Expires when it stops being
	// valid: it is valid at times before Expires, not at Expires. The
	// [Issuer] gives both whole milliseconds.
	Created, Expires time.Time
}

// Store keeps the records of issued tokens. Implementations must be safe
// for concurrent use and keep their contracts across every instance that
// shares them; package token/tokentest checks an implementation against
// them. Get and Take return an error wrapping [ErrInvalid] when no record
// matches; any other error is the store failing. Stores do not validate
// records: the [Issuer] does, before Put.
type Store interface {
	// Put stores rec and deletes every other record of rec.UserID with
	// rec.Purpose (a newer token voids older ones), atomically: of
	// concurrent Puts for one user and purpose, one record survives. Put
	// fails, changing nothing, if a record with rec.Hash exists for
	// another user or purpose.
	Put(ctx context.Context, rec Record) error
	// Get returns the record with hash and purpose p if it is valid at
	// now (now is before its Expires), without consuming it: to show a
	// form before the user submits it.
	Get(ctx context.Context, hash []byte, p Purpose, now time.Time) (Record, error)
	// Take deletes and returns the record that Get would return: of
	// concurrent Takes of one record, exactly one succeeds (single use).
	// A Take that fails consumes nothing valid.
	Take(ctx context.Context, hash []byte, p Purpose, now time.Time) (Record, error)
	// Void deletes userID's records of the given purposes, of every
	// purpose when none is given.
	Void(ctx context.Context, userID string, purposes ...Purpose) error
	// DeleteExpired deletes the records no longer valid at now (Expires
	// at or before now) and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

var (
	// ErrInvalid is the one answer to a token that cannot be used:
	// malformed, unknown, expired, already used, voided or issued for
	// another purpose. It says no more, so that an answer tells an
	// attacker nothing; show the user one message ("this link is invalid
	// or has expired") and offer a new one.
	ErrInvalid = errors.New("token: invalid or expired token")

	// ErrStoreFull means a [MemoryStore] holds [MemoryStoreConfig.MaxRecords]
	// valid records: a flood of token requests, or a limit set too low.
	// Throttle issuance per account and per address.
	ErrStoreFull = errors.New("token: store full")
)
