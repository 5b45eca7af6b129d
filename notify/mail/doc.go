// Package mail sends [notify.Message] values over SMTP: it is the
// [notify.Sender] a program gives its outbox to deliver security notices
// and alerts by e-mail.
//
// Start with [New]: the zero [Config] (plus Host and From) is the secure
// default. The connection must be encrypted, with STARTTLS on the
// submission port 587 ([RequireSTARTTLS]) or TLS from the first byte on port
// 465 ([ImplicitTLS]), and the server's certificate must verify against the
// system roots (or [Config.RootCAs]). A server that does not offer STARTTLS,
// or whose certificate does not verify, gets nothing: not the message, not
// the password. Plain text is an explicit, named choice ([AllowPlaintext])
// for a local development server, and even then the password never
// travels in clear: only a challenge-response mechanism (SCRAM, CRAM-MD5)
// may authenticate over plain text.
//
// # Threats covered
//
//   - Header injection: a recipient or subject holding CR, LF or another
//     control character is refused before anything is sent (and the
//     mail library encodes headers as well), so event data cannot add a
//     Bcc or a second body.
//   - Eavesdropping and downgrade: see above; STARTTLS stripping by an
//     attacker on the path makes Send fail rather than fall back.
//   - Hung or slow servers: each Send ends at its context's deadline or
//     after [Config.Timeout], whichever comes first, whatever stage the
//     conversation is in.
//   - Secret leaks: [Config.Password] is a [secrets.Value], redacted when
//     printed or logged, and no error of this package contains it.
//
// # Failures
//
// Send's errors tell the outbox whether to retry: a 5xx answer to RCPT or
// DATA (the address does not exist, the message is refused) and a message
// this package cannot send (a malformed address, a subject with a line
// break) wrap [notify.ErrPermanent]; 4xx answers, network and TLS failures,
// authentication failures and a context that ends are temporary.
//
// # Out of scope
//
// Queueing, retries and deduplication are the outbox's job (package
// notify); DKIM signing is left to the submission server; attachments,
// several recipients per message and connection reuse are not offered.
package mail
