package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

// Users is the app's user table, as the flows need it: the
// [auth.UserStore] of the login, and the e-mail address of each user.
// Methods are called with the request's context, or in the background
// with a context that carries the request's values (see [Flows]).
type Users interface {
	auth.UserStore

	// UserByEmail returns the user whose address is email, as the client
	// typed it (apps that match case-insensitively fold it here), or an
	// error wrapping [auth.ErrUserNotFound].
	UserByEmail(ctx context.Context, email string) (auth.User, error)

	// SetEmail replaces the user's address with newEmail only if it is
	// still oldEmail (compare-and-swap), marking newEmail unverified. It
	// returns [ErrEmailTaken] if another account has newEmail (a unique
	// index), and [ErrEmailConflict] if the address is no longer oldEmail.
	SetEmail(ctx context.Context, userID, oldEmail, newEmail string) error

	// SetEmailVerified records that the user proved they read email, only
	// if email is still the user's address; otherwise it returns
	// [ErrEmailConflict].
	SetEmailVerified(ctx context.Context, userID, email string) error
}

// Sessions is the session layer, as the flows need it: *session.Manager
// implements it.
type Sessions interface {
	// Login signs p in on the request's session, renewing its token.
	Login(ctx context.Context, p identity.Principal) error
	// RevokeUser ends every session of userID, the request's own too.
	RevokeUser(ctx context.Context, userID string) error
}

var (
	// ErrEmailTaken means another account has the address. [Users].SetEmail
	// returns it; [Flows.ConfirmEmailChange] and [Flows.UndoEmailChange]
	// return it wrapped. A sign-up's create function returns it (wrapped)
	// when the address was taken by a sign-up racing it: the owner is then
	// told, as for any taken address.
	ErrEmailTaken = errors.New("account: e-mail address belongs to another account")

	// ErrEmailConflict means the user's address is no longer the one the
	// caller read: another request changed it meanwhile. [Users] returns
	// it; the flows turn it into [token.ErrInvalid] (the link was for the
	// old address) or return it wrapped.
	ErrEmailConflict = errors.New("account: e-mail address changed concurrently")

	// ErrInvalidAddress means an e-mail address is malformed: empty, over
	// 254 bytes, invalid UTF-8, with a control character or space, or not
	// one "@" between a local part and a domain. No account can have one
	// (refuse them at sign-up too), so refusing it reveals nothing.
	ErrInvalidAddress = errors.New("account: invalid e-mail address")

	// ErrOtherUser means a confirmation link was opened in a browser
	// signed in as another user than the one it is for:
	// [Flows.ConfirmEmailChange] refuses it before using it (the link
	// stays valid), since that user would believe they confirmed an
	// address of their own. Ask them to sign out, or to open the link
	// where no one is signed in.
	ErrOtherUser = errors.New("account: the link is for another account than the one signed in")
)

// Config configures [New]. Users, Tokens, Notifier, Sessions, Link and
// Factors (or AllowNoFactors) are required; the rest have secure
// defaults.
type Config struct {
	// Users is the app's user table. Required.
	Users Users
	// Tokens issues and redeems the links' single-use tokens. Required:
	// a *token.Issuer over a token/sqlstore.Store on several instances.
	Tokens *token.Issuer
	// Notifier queues the mails (links and notices): a
	// [*notify.Outbox], whose Run sends them after the request, once
	// across instances. Required.
	Notifier notify.Enqueuer
	// Sessions is the session layer (*session.Manager). Required.
	Sessions Sessions

	// Link returns the URL mailed for a token of purpose p: the app's
	// route that shows the form, with tok in its path or query, such as
	// "https://example.com/reset?token=" + tok. An error fails the step
	// (audited). Required.
	Link func(p token.Purpose, tok string) (string, error)

	// Factors are the second factors users can enrol (the *mfa.TOTP and
	// the *passkey.RelyingParty the mfa.Policy has): a user enrolled in
	// any must pass the MFA challenge before a reset takes effect, so that
	// a stolen mailbox does not bypass the factor. Required unless
	// AllowNoFactors is set.
	Factors []mfa.EnrolmentChecker
	// AllowNoFactors declares that the app offers no second factor, so
	// that a reset needs only the mailbox. Default: false, and New refuses
	// an empty Factors: forgetting it would let a reset bypass MFA.
	AllowNoFactors bool

	// Hasher hashes new passwords and verifies the current one before a
	// change of address. Default: password.NewHasher with a zero
	// HasherConfig. Pass the auth.Authenticator's Hasher (with its
	// pepper), or logins fail after a reset.
	Hasher *password.Hasher
	// Policy applies to new passwords at reset. Default:
	// password.NewPolicy with a zero PolicyConfig. Pass the
	// Authenticator's.
	Policy *password.Policy

	// PerAddress limits the requests that send mail to an address the
	// client chooses (reset, sign-up) per client address
	// (ratelimit.AddrKey). Default: in memory, 10 at once then 20 an hour.
	// Apps on several instances pass a shared limiter
	// (ratelimit/redisstore). A limiter error fails the request closed
	// unless its Decision allows it.
	PerAddress ratelimit.Limiter
	// PerAccount limits the mails sent to one address or account (reset
	// and sign-up per address typed, verification and change of address
	// per user and per new address), whoever asks: a mailbox cannot be
	// flooded, nor a reset link's lifetime kept renewed. Default: in
	// memory, 3 at once then 4 an hour. Keys are an unkeyed SHA-256
	// digest of the address (so that instances sharing a limiter agree),
	// or the user ID. An attacker can spend an account's budget, delaying
	// its owner's reset by up to 15 minutes at a time: the price of not
	// letting anyone mail a victim in a loop.
	PerAccount ratelimit.Limiter
	// Throttle is asked before the current password is checked for a
	// change of address, and told the outcome, like a login, keyed on the
	// user's login name folded as auth folds it: pass the Authenticator's
	// login throttle to share its budget. Default: a LoginThrottle of
	// this Flows' own, in memory.
	Throttle auth.Throttle

	// Audit receives an event for every step (see the Action constants).
	// Default: nil, the [audit.Logger] whose Handler serves the request;
	// the background jobs of a request (see [Flows]) carry its context, and
	// so its Logger, with them.
	Audit *audit.Logger

	// Mails replaces the default mail of each kind it names (the Mail
	// constants: [MailReset], ...) with the app's own, to name the site,
	// speak the users' language or state the links' lifetimes as the
	// app's token.Config sets them. Build each with
	// notify.NewTemplate(kind, ...); the templates see a [MailData]. New
	// renders each with sample data and refuses one of another kind, one
	// that fails (a field MailData lacks), and one whose plain-text body
	// does not show the link its kind carries. Default: none, the
	// English defaults.
	Mails map[string]*notify.Template

	// Now returns the current time, for the AuthTime of the session that
	// [Flows.BeginReset] signs in for the MFA challenge. Default: time.Now.
	// It must agree with the session layer's clock (session.Config.Now),
	// which compares it with the user's revocation watermark: tests that
	// give the session layer a fake clock pass the same one here (and to
	// auth.AuthenticatorConfig.Now).
	Now func() time.Time

	// QueueSize bounds the requests waiting for the background worker.
	// When it is full, requests are refused alike, with a
	// *ratelimit.LimitedError. Default: 1024.
	QueueSize int
}

// Flows runs account recovery and e-mail ownership: password reset,
// e-mail verification at sign-up, a sign-up that reveals nothing, and
// change of address. It is safe for concurrent use.
//
// The requests whose answer must not depend on whether an account exists
// ([Flows.RequestReset], [Flows.SignUp], [Flows.RequestEmailChange] after
// the password check) only check their limits on the request and hand
// the rest to a bounded queue served by background goroutines, which New
// starts and [Flows.Close] stops. Each job runs with a context that
// carries the request's values (its audit Logger, client address,
// request ID and principal) but not its cancellation, bounded to 30
// seconds; its failures are audited ([ActionError]), never returned.
type Flows struct {
	users      Users
	tokens     *token.Issuer
	notifier   notify.Enqueuer
	sessions   Sessions
	link       func(token.Purpose, string) (string, error)
	factors    []mfa.EnrolmentChecker
	hasher     *password.Hasher
	policy     *password.Policy
	perAddress ratelimit.Limiter
	perAccount ratelimit.Limiter
	throttle   auth.Throttle
	audit      *audit.Logger
	now        func() time.Time
	digestKey  []byte
	mails      map[string]*notify.Template

	jobs   chan job
	mu     sync.RWMutex // guards closed against sends on jobs
	closed bool
	wg     sync.WaitGroup
	base   context.Context // cancelled by Close: running jobs end, queued ones are dropped
	cancel context.CancelFunc
}

const (
	// workers is how many goroutines serve the queue.
	workers = 2
	// jobTimeout bounds one background job.
	jobTimeout = 30 * time.Second
	// queueRetry is the wait a full queue suggests.
	queueRetry = 10 * time.Second
	// maxEmail is the longest address (RFC 5321 path limit less brackets).
	maxEmail = 254
)

var (
	defaultPerAddress = ratelimit.Limit{Events: 20, Per: time.Hour, Burst: 10}
	defaultPerAccount = ratelimit.Limit{Events: 4, Per: time.Hour, Burst: 3}
	// throttlePace is the audit budget of refusals a flood can trigger.
	throttlePace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}
	errClosed    = errors.New("account: closed")
)

// job is work handed to the background workers.
type job struct {
	ctx context.Context // the request's values, without its cancellation
	run func(ctx context.Context)
}

// New checks cfg and returns the Flows, starting its background workers:
// call [Flows.Close] when done. It returns an error naming a missing
// required field.
func New(cfg Config) (*Flows, error) {
	switch {
	case nilarg.Is(cfg.Users):
		return nil, errors.New("account: New: Config.Users is nil: pass the app's user table")
	case cfg.Tokens == nil:
		return nil, errors.New("account: New: Config.Tokens is nil: pass a *token.Issuer")
	case nilarg.Is(cfg.Notifier):
		return nil, errors.New("account: New: Config.Notifier is nil: pass the *notify.Outbox")
	case nilarg.Is(cfg.Sessions):
		return nil, errors.New("account: New: Config.Sessions is nil: pass the *session.Manager")
	case cfg.Link == nil:
		return nil, errors.New("account: New: Config.Link is nil: pass a function that builds the URL of the app's route for a token")
	case len(cfg.Factors) == 0 && !cfg.AllowNoFactors:
		return nil, errors.New("account: New: Config.Factors is empty: pass the factors users can enrol (the *mfa.TOTP, the *passkey.RelyingParty), or set AllowNoFactors if the app has none")
	case slices.ContainsFunc(cfg.Factors, func(f mfa.EnrolmentChecker) bool { return nilarg.Is(f) }):
		return nil, errors.New("account: New: Config.Factors holds a nil factor")
	case cfg.QueueSize < 0:
		return nil, errors.New("account: New: Config.QueueSize is negative: use 0 for the default (1024)")
	}
	f := &Flows{
		users: cfg.Users, tokens: cfg.Tokens, notifier: cfg.Notifier, sessions: cfg.Sessions,
		link: cfg.Link, factors: slices.Clone(cfg.Factors), hasher: cfg.Hasher, policy: cfg.Policy,
		perAddress: cfg.PerAddress, perAccount: cfg.PerAccount, throttle: cfg.Throttle, audit: cfg.Audit,
		digestKey: make([]byte, 32), now: cfg.Now,
	}
	if f.now == nil {
		f.now = time.Now
	}
	rand.Read(f.digestKey)
	var err error
	if f.mails, err = parseMails(cfg.Mails); err != nil {
		return nil, fmt.Errorf("account: New: %w", err)
	}
	if f.hasher == nil {
		if f.hasher, err = password.NewHasher(password.HasherConfig{}); err != nil {
			return nil, err
		}
	}
	if f.policy == nil {
		if f.policy, err = password.NewPolicy(password.PolicyConfig{}); err != nil {
			return nil, err
		}
	}
	// The default limiters start no janitor (negative SweepInterval), so
	// there is nothing to close; MaxKeys bounds them.
	if nilarg.Is(f.perAddress) {
		if f.perAddress, err = ratelimit.NewMemory(defaultPerAddress, ratelimit.MemoryConfig{MaxKeys: 1 << 16, SweepInterval: -1}); err != nil {
			return nil, err
		}
	}
	if nilarg.Is(f.perAccount) {
		if f.perAccount, err = ratelimit.NewMemory(defaultPerAccount, ratelimit.MemoryConfig{MaxKeys: 1 << 16, SweepInterval: -1}); err != nil {
			return nil, err
		}
	}
	if nilarg.Is(f.throttle) {
		if f.throttle, err = ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{
			Config: ratelimit.MemoryConfig{SweepInterval: -1}}, ratelimit.LoginThrottleConfig{Audit: cfg.Audit}); err != nil {
			return nil, err
		}
	}
	size := cfg.QueueSize
	if size == 0 {
		size = 1024
	}
	f.jobs = make(chan job, size)
	f.base, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(workers)
	for range workers {
		go f.work()
	}
	return f, nil
}

// Close stops accepting requests that need the background workers (they
// then fail), lets the workers finish the queued jobs, and returns when
// they are done. If ctx ends first, it cancels the jobs still running,
// drops the rest and returns ctx's error. It is safe to call more than
// once.
func (f *Flows) Close(ctx context.Context) error {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.jobs)
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		f.cancel()
		return nil
	case <-ctx.Done():
		f.cancel()
		<-done
		return ctx.Err()
	}
}

// work serves the queue until Close.
func (f *Flows) work() {
	defer f.wg.Done()
	for j := range f.jobs {
		if f.base.Err() != nil {
			continue // Close gave up waiting: drop the rest
		}
		f.runJob(j)
	}
}

func (f *Flows) runJob(j job) {
	ctx, cancel := context.WithTimeout(j.ctx, jobTimeout)
	stop := context.AfterFunc(f.base, cancel)
	defer func() {
		stop()
		cancel()
		if v := recover(); v != nil {
			f.note(j.ctx, "", "", "background job panicked", fmt.Errorf("%v", v))
		}
	}()
	j.run(ctx)
}

// submit queues run for a worker, with r's context values. A full queue
// refuses every request alike.
func (f *Flows) submit(r *http.Request, flow string, run func(ctx context.Context)) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	select {
	case f.jobs <- job{ctx: context.WithoutCancel(r.Context()), run: run}:
		return nil
	default:
		f.throttled(r.Context(), flow, "queue", queueRetry)
		return &ratelimit.LimitedError{RetryAfter: queueRetry}
	}
}

// clientKey returns the per-address limiter key of r's client, failing
// closed without the clientip middleware.
func (f *Flows) clientKey(r *http.Request, flow string) (string, error) {
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		err := fmt.Errorf("account: %s: %w", flow, clientip.ErrNoClient)
		f.note(r.Context(), flow, "", "client address", err)
		return "", err
	}
	return flow + ":" + ratelimit.AddrKey(info.Addr), nil
}

// allow asks lim about key, failing closed on a limiter error unless its
// Decision allows.
func (f *Flows) allow(ctx context.Context, lim ratelimit.Limiter, key, flow, limit string) error {
	d, err := lim.Allow(ctx, key)
	if err != nil {
		f.note(ctx, flow, "", "limiter "+limit, err)
		if !d.Allowed {
			return &ratelimit.LimitedError{}
		}
		return nil
	}
	if !d.Allowed {
		f.throttled(ctx, flow, limit, d.RetryAfter)
		return &ratelimit.LimitedError{RetryAfter: d.RetryAfter}
	}
	return nil
}

func (f *Flows) throttled(ctx context.Context, flow, limit string, retry time.Duration) {
	f.audit.Log(ctx, audit.Event{
		Category: audit.CategorySuspicious, Action: ActionThrottled, Outcome: audit.OutcomeDenied,
		Meta: map[string]string{"flow": flow, "limit": limit, "retry_after": retry.String()},
		Pace: audit.Pace{Every: throttlePace.Every, Burst: throttlePace.Burst, Scope: flow},
	})
}

// note audits an internal failure.
func (f *Flows) note(ctx context.Context, flow, userID, step string, err error) {
	ev := audit.Event{Category: audit.CategoryError, Action: ActionError, Outcome: audit.OutcomeFailure,
		Reason: step + ": " + err.Error()}
	if flow != "" {
		ev.Meta = map[string]string{"flow": flow}
	}
	if userID != "" {
		ev.Target = userTarget(userID)
	}
	f.audit.Log(ctx, ev)
}

// internal audits an internal failure and returns it wrapped with the
// step; the caller answers 500 without details.
func (f *Flows) internal(ctx context.Context, flow, userID, step string, err error) error {
	f.note(ctx, flow, userID, step, err)
	return fmt.Errorf("account: %s: %s: %w", flow, step, err)
}

// event logs one step of a flow.
func (f *Flows) event(ctx context.Context, a audit.Action, c audit.Category, o audit.Outcome, userID, reason string, meta map[string]string) {
	ev := audit.Event{Category: c, Action: a, Outcome: o, Reason: reason, Meta: meta}
	if userID != "" {
		ev.Target = userTarget(userID)
	}
	f.audit.Log(ctx, ev)
}

func userTarget(id string) audit.Target { return audit.Target{Kind: audit.TargetKindUser, ID: id} }

// enrolled reports whether the user has any factor, failing closed.
func (f *Flows) enrolled(ctx context.Context, userID string) (bool, error) {
	for _, fa := range f.factors {
		ok, err := fa.Enrolled(ctx, userID)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// send renders and queues one mail; a failure is audited, not returned:
// the step it notifies about has happened.
func (f *Flows) send(ctx context.Context, flow, userID string, m notify.Message, err error) bool {
	if err == nil {
		err = f.notifier.Enqueue(ctx, m)
	}
	if err != nil {
		f.note(ctx, flow, userID, "queueing "+m.Kind+" mail", err)
		return false
	}
	return true
}

// issueLink issues a token of purpose p for subject carrying data, and
// returns its link and the token.
func (f *Flows) issueLink(ctx context.Context, subject string, p token.Purpose, data string) (link, tok string, err error) {
	if tok, err = f.tokens.Issue(ctx, subject, p, data); err != nil {
		return "", "", err
	}
	if link, err = f.linkTo(p, tok); err != nil {
		return "", "", err
	}
	return link, tok, nil
}

// mailLink issues a token of purpose p for userID carrying data, queues
// the mail of kind with its link to the address to, and audits a.
func (f *Flows) mailLink(ctx context.Context, userID string, p token.Purpose, data, kind, to string, a audit.Action) error {
	link, tok, err := f.issueLink(ctx, userID, p, data)
	if err != nil {
		return err
	}
	m, err := f.mail(kind, kind+":"+tokenRef(tok), to, MailData{Link: link})
	if err == nil {
		err = f.notifier.Enqueue(ctx, m)
	}
	if err != nil {
		return fmt.Errorf("queueing mail: %w", err)
	}
	f.event(ctx, a, audit.CategoryAuthentication, audit.OutcomeSuccess, userID, "", nil)
	return nil
}

// linkTo builds the URL for tok.
func (f *Flows) linkTo(p token.Purpose, tok string) (string, error) {
	u, err := f.link(p, tok)
	if err != nil {
		return "", fmt.Errorf("account: Link: %w", err)
	}
	if u == "" || strings.ContainsFunc(u, unicode.IsControl) {
		return "", errors.New("account: Link returned an empty URL or one with control characters")
	}
	return u, nil
}

// normalize folds an address for limiter keys and digests: trimmed, NFKC,
// lower case.
func normalize(email string) string {
	return strings.ToLower(password.Normalize(strings.TrimSpace(email)))
}

// validAddress reports whether email can be an account's address.
func validAddress(email string) bool {
	if email == "" || len(email) > maxEmail || !utf8.ValidString(email) {
		return false
	}
	if strings.ContainsFunc(email, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	return at > 0 && at < len(email)-1 && strings.Count(email, "@") == 1
}

// addressKey is the per-account limiter key for an address: unkeyed, so
// that instances sharing a limiter agree (the limiter hashes keys again).
func addressKey(flow, email string) string {
	sum := sha256.Sum256([]byte("rampart/account address\x00" + normalize(email)))
	return flow + ":e:" + hex.EncodeToString(sum[:16])
}

// digest names an address in audit: keyed, so that a reader of the log
// cannot test guesses against it.
func (f *Flows) digest(email string) string {
	m := hmac.New(sha256.New, f.digestKey)
	m.Write([]byte(normalize(email)))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// nonce is a random ID for a mail's deduplication key.
func nonce() string {
	return rand.Text()
}

// tokenRef is the deduplication key part for a token's mail: a prefix of
// the SHA-256 of its bytes (the store's Record.Hash), never the token.
func tokenRef(tok string) string {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		b = []byte(tok)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
