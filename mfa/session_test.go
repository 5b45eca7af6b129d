package mfa_test

import (
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/session"
)

// *session.Manager is the session layer mfa is written for (through glue
// until the merge of issue 13).
var (
	_ mfa.IdentityReader = glue{}
	_ mfa.Sessions       = glue{}
	_ mfa.ChallengeStore = (*session.Manager)(nil)
)
