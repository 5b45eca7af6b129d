// Package account runs the flows that rest on a user's e-mail address:
// password reset, e-mail verification at sign-up, a sign-up that reveals
// nothing, and change of address with an undo link. Start with [New] and
// a [Flows]; the app keeps its forms and routes, and calls one method per
// step.
//
//	flows, err := account.New(account.Config{
//		Users: users, Tokens: issuer, Notifier: outbox, Sessions: sessions,
//		Factors: []mfa.EnrolmentChecker{totp},
//		Link: func(p token.Purpose, tok string) (string, error) {
//			return "https://example.com/account/" + string(p) + "?token=" + tok, nil
//		},
//	})
//	defer flows.Close(ctx)
//
//	// POST /forgot:
//	err = flows.RequestReset(r, r.PostFormValue("email")) // "check your inbox"
//	// GET /account/password_reset?token=…:
//	res, err := flows.BeginReset(r, tok) // res.NeedsMFA: to the MFA challenge, then back
//	// POST /account/password_reset:
//	err = flows.CompleteReset(r, tok, r.PostFormValue("password"))
//
// # Threat
//
// Recovery is the back door attackers use when the front door is strong:
// a login with a good password, a throttle and a second factor is worth
// little if a reset link opens the account with less. So each flow gets
// the care of a login.
//
//   - Account enumeration. [Flows.RequestReset] and [Flows.SignUp] answer
//     alike, with the same work on the request, whether or not an account
//     has the address: they check the limits, queue the rest for
//     background workers and return. The lookup, the token and the mail
//     happen later, off the request, so neither the answer nor its timing
//     tells them apart. A full queue refuses every request alike. The
//     owner of an address someone signs up with gets a "someone tried to
//     sign up with your address" mail instead of an account;
//     [Flows.RequestEmailChange] treats an address of another account the
//     same way.
//   - Mail bombing and link churn. Requests are limited per client address
//     and per address typed (or per account), so nobody can mail a victim
//     in a loop, nor keep renewing a reset link.
//   - Bypassing the second factor. Possession of the mailbox is one
//     factor. A user with a second factor ([Config].Factors) must pass the
//     app's MFA challenge (or use a recovery code) before a reset takes
//     effect: [Flows.BeginReset] signs the session in as the user with no
//     authentication methods, which mfa.Policy challenges even when
//     AllowUnverifiedEnrolled is set, and [Flows.CompleteReset] refuses
//     unless the session verified a factor after the link was issued.
//   - Stolen or replayed links. Tokens come from package token: 256
//     random bits, stored only as hashes, bound to user and purpose,
//     short-lived and single use. A reset link is also bound to digests
//     of the password hash it was issued against and of the address it
//     was mailed to, so any change of password or address voids it, by
//     whatever path; a pending change of address is bound to the password
//     it was asked with, so a change of password voids it too. Two
//     concurrent completions of one link make one change (the store's
//     atomic redeem, then compare-and-swap on the hash).
//   - Sessions outliving a reset. A completed reset ends every session of
//     the user, the one that completed it too, and mails a "password
//     changed" notice.
//   - A change of address by someone who knows the password. It needs the
//     password again (throttled like a login), takes effect only from a
//     link mailed to the new address, and the old address gets a notice
//     with an undo link (7 days, a token purpose of its own) that
//     restores it, ends every session and mails a fresh reset link.
//     A second change cannot void the first change's undo link.
//   - Leaks through logs and mail keys. Audit events name an address
//     typed by a client only by a keyed digest, and never carry a token;
//     a mail's deduplication key holds a prefix of the token's hash.
//
// # Background work
//
// New starts two goroutines that serve a bounded queue ([Config].QueueSize);
// [Flows.Close] drains it. A job runs with a context that carries the
// request's values (so the audit Logger of the request, its client
// address and request ID) without its cancellation, for at most 30
// seconds; its failures are audited as [ActionError].
//
// Queued work lives in process memory, and is lost if the process stops
// before Close drains it (a crash, a kill): a reset link, a sign-up (the
// account is not created: create has not run) or a change confirmation
// that was answered "check your inbox" but never mailed. Nothing is
// revealed by the loss (the answer was the same for every address) and
// nothing is half done (a job's steps happen after it is taken from the
// queue); the user, whose mail does not come, asks again, within the
// limits. The queue is not made durable on purpose: handing the job to a
// database inside the request would put a write of the typed address on
// the request, and any step that differs for known and unknown addresses
// back onto it; the outbox holds mails, not jobs. Call Close on shutdown
// (it drains the queue, bounded by its context) to lose nothing on a
// planned restart.
//
// # What the app provides
//
//   - [Users]: its user table, with compare-and-swap on the password hash
//     and on the address, and a unique address.
//   - [Sessions]: *session.Manager.
//   - Notifier ([notify.Enqueuer]): the durable outbox of package notify, which sends the
//     mails after the request, once across instances.
//   - A *token.Issuer, over token/sqlstore on several instances.
//   - Optionally, [Config].Mails: the app's own texts for the mails (the
//     defaults are generic English).
//   - The routes and forms, and the Link function that builds their URLs.
//     The MFA challenge routes are the app's existing ones.
//
// Every route that serves a signed-in user must be behind mfa.Policy's
// Require (as it must already be for password logins, which also sign in
// before the second factor): a session begun by a reset link is signed
// in, but without methods. The routes the links lead to are public (not
// behind Require): the token is their authority, and CompleteReset checks
// the second factor itself.
//
// Addresses typed by a client are trimmed of surrounding spaces; the
// [Users] table matches them as it matches addresses at sign-up (folding
// case, say). Mail goes to the address the account has, never to the one
// typed, so an address the table matches loosely cannot divert a link.
//
// # Out of scope
//
// The forms, their CSRF protection (package headers) and their pages; the
// sending of mail (package notify); administrator-initiated resets;
// deleting accounts. Timing differences inside the app's user table are
// the table's to equalise, as for logins. A sign-up form that asks for a
// user name as well as an address reveals taken names: only the address
// is covered here.
package account
