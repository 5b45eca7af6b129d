package mfa_test

import (
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/session"
)

// *session.Manager is the session layer mfa is written for.
var (
	_ mfa.IdentityReader = (*session.Manager)(nil)
	_ mfa.Sessions       = (*session.Manager)(nil)
	_ mfa.ChallengeStore = (*session.Manager)(nil)
)
