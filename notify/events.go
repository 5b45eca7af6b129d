package notify

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/gate"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
)

// Enqueuer queues a message for later delivery without sending it: an
// [Outbox]. Enqueue must not wait for the message to be sent, and must
// queue one message per Key however often it is called with that Key (the
// Outbox keeps the first).
type Enqueuer interface {
	Enqueue(ctx context.Context, m Message) error
}

var _ Enqueuer = (*Outbox)(nil)

// Recipients finds whom an audit event is to be told to. It is called with
// a context bounded by [EventSinkConfig].Timeout. An error is recorded
// ([ActionQueueFailed]) and nobody is told; no address and no error means
// there is nobody to tell (a user without an address).
type Recipients interface {
	Recipients(ctx context.Context, e audit.Event) ([]string, error)
}

// ToUser returns the Recipients that is the user an event is about: the
// event's Target when its Kind is [audit.TargetKindUser] (an account
// disabled by an administrator, a role granted), else its Actor (a factor
// the user added). lookup returns the user's address; "" and no error
// means the user has none. An event that names no user is recorded as a
// failure. Panics if lookup is nil.
func ToUser(lookup func(ctx context.Context, userID string) (address string, err error)) Recipients {
	if lookup == nil {
		panic("notify: ToUser with a nil lookup: pass the function that returns a user's address")
	}
	return toUser(lookup)
}

type toUser func(ctx context.Context, userID string) (string, error)

// accountNotified holds the actions of package account whose steps its
// flows mail the user about themselves: [ToUser] rules on them are
// refused. Spelled out because notify cannot import account (a layer
// above); account's tests check the list against its constants.
var accountNotified = map[audit.Action]bool{
	"account.reset.mailed":           true,
	"account.reset.completed":        true,
	"account.verification.mailed":    true,
	"account.signup.existing":        true,
	"account.email_change.requested": true,
	"account.email_change.confirmed": true,
	"account.email_change.undone":    true,
}

func isToUser(r Recipients) bool {
	_, ok := r.(toUser)
	return ok
}

func (f toUser) Recipients(ctx context.Context, e audit.Event) ([]string, error) {
	id := e.Actor.UserID
	if e.Target.Kind == audit.TargetKindUser {
		id = e.Target.ID
	}
	if id == "" {
		return nil, errors.New("the event names no user (Target of kind user, or Actor)")
	}
	a, err := f(ctx, id)
	if err != nil || a == "" {
		return nil, err
	}
	return []string{a}, nil
}

// ToAddresses returns the Recipients that is always addrs: the security
// contacts, for alerts. [NewEventSink] refuses an empty list, an empty
// address or one with a control character.
func ToAddresses(addrs ...string) Recipients {
	return toAddresses(append([]string{}, addrs...)) // never nil: NewEventSink reports it empty
}

type toAddresses []string

func (a toAddresses) Recipients(context.Context, audit.Event) ([]string, error) { return a, nil }

func (a toAddresses) check() error {
	if len(a) == 0 {
		return errors.New("ToAddresses with no address: name the security contacts")
	}
	for _, s := range a {
		if s == "" || len(s) > 512 || hasControl(s) || !utf8.ValidString(s) {
			return fmt.Errorf("ToAddresses: address %q is empty, longer than 512 bytes or holds a control character", s)
		}
	}
	return nil
}

// Rule says which audit events are told to whom, and how.
//
// A notice (Alert false) is one message per event and recipient: the same
// event written twice (an [audit.AsyncSink] retrying a batch, the event
// seen by two instances) is one message. An alert (Alert true) is one
// message per action, Target and recipient within
// [EventSinkConfig].Dedup: a burst of alerts about one account is one
// mail. Both are rate-limited per rule and recipient.
type Rule struct {
	// Action is the audit action that triggers the rule. Required; not
	// an action of this package.
	Action audit.Action
	// Outcome, if set, restricts the rule to events with that outcome
	// (a factor added: [audit.OutcomeSuccess] only).
	Outcome audit.Outcome
	// To finds the recipients. Required.
	To Recipients
	// Template renders the message from an [EventData]. Required, unless
	// the rule comes from [Notice] or [Alert], which bring their own.
	// Put no event data in the subject: a client chooses some of it (the
	// User-Agent, a login name), and a line break there fails the render.
	Template *Template
	// Alert makes the rule's messages alerts (see [Rule]).
	Alert bool

	what string // the sentence of Notice and Alert's default templates
}

// Notice returns a rule that tells the user an event is about (pass
// [ToUser]) what happened, in one sentence ("A passkey was added to your
// account."), with the event's time, client address and browser, and what
// to do if it was not them. It matches successful events only. The
// message kind is the action. what must be one line of at most 200 bytes
// ([NewEventSink] checks).
func Notice(action audit.Action, what string, to Recipients) Rule {
	return Rule{Action: action, Outcome: audit.OutcomeSuccess, To: to, what: what}
}

// Alert returns a rule that sends the security contacts (pass
// [ToAddresses]) an alert for every event of action, whatever its outcome:
// what happened in one sentence ("Credential stuffing: one account failed
// to sign in from many addresses."), and the event's details (target,
// address, reason, meta), quoted in the plain-text body and escaped in the
// HTML one. The message kind is the action.
func Alert(action audit.Action, what string, to Recipients) Rule {
	return Rule{Action: action, To: to, Alert: true, what: what}
}

// EventData is what a [Rule]'s Template renders.
type EventData struct {
	// Event is the audit event, as the sink received it.
	Event audit.Event
	// To is the recipient's address.
	To string
	// HeldBack is how many messages of the same rule to the same
	// recipient the rate limit held back since the last one queued (by
	// this instance). Say so in the message: a quiet inbox during a flood
	// must not read as a quiet flood.
	HeldBack int
}

// EventSinkConfig tunes an [EventSink]. The zero value is ready to use.
type EventSinkConfig struct {
	// Limiter limits the messages of each rule to each recipient (the
	// key names the rule's action, its message kind and the recipient),
	// so that a botnet spraying thousands of accounts is not thousands of
	// mails to the security contacts, nor an attacker adding and removing
	// a factor a mail bomb to the user. Messages refused are counted and
	// the next one says how many ([EventData].HeldBack). A limiter error
	// is recorded and its Decision followed. Share one Redis limiter
	// (package ratelimit/redisstore) to limit across instances. Default:
	// in memory, per instance, 10 per hour with bursts of 5.
	Limiter ratelimit.Limiter
	// Dedup is the window within which alerts of one action about one
	// Target are one message: windows are fixed (event time divided by
	// Dedup), so instances agree on them without talking. Default: 15
	// minutes.
	Dedup time.Duration
	// Timeout bounds the work for one event: finding the recipients and
	// queueing the messages. Write returns after it at the latest, so a
	// hung user table or outbox slows the audit pipeline this much and no
	// more (put an [audit.AsyncSink] above the detector to keep it off
	// the request's path altogether). Default: 2 seconds.
	Timeout time.Duration
	// ErrorLog receives the failures the EventSink could not record in
	// the sink it wraps (because that sink failed too). Default: a text
	// handler on os.Stderr; never the global logger.
	ErrorLog *slog.Logger
}

// EventSink is an [audit.Sink] that turns chosen audit events into
// messages in an outbox: notices to the users they concern (a factor
// added, a sign-in from a new place) and alerts to the security contacts
// (credential stuffing, a cloned authenticator). Audit events are the
// record of what happened, so notices hang off them rather than off the
// code paths that log them. Place it under the detector of package
// audit/detect, so that it sees the detector's alerts:
//
//	notices, err := notify.NewEventSink(store, outbox, rules, notify.EventSinkConfig{})
//	det, err := detect.New(notices, detect.Config{})
//	events, err := audit.New(det, audit.Config{})
//
// Write never fails because of a message: a failure is recorded as an
// [ActionQueueFailed] event in the sink it wraps (not through an
// audit.Logger, which feeds this very sink and could loop, or deadlock
// behind a full [audit.AsyncSink]). It is safe for concurrent use and
// starts no goroutine.
type EventSink struct {
	next    audit.Sink
	q       Enqueuer
	rules   map[audit.Action][]*Rule
	limiter ratelimit.Limiter
	dedup   time.Duration
	timeout time.Duration
	errLog  *slog.Logger
	seed    maphash.Seed
	failed  *gate.Gate // paces ActionQueueFailed
	held    *gate.Gate // paces ActionHeldBack

	mu     sync.Mutex
	queued *bounded[struct{}] // Keys queued lately: skip a repeat early
	counts *bounded[int]      // held-back counts per limiter key
}

var (
	_ audit.Sink      = (*EventSink)(nil)
	_ audit.BatchSink = (*EventSink)(nil)
)

// Bounds of an EventSink's work.
const (
	evMaxWhat       = 200
	evMaxRecipients = 100  // per rule and event
	evMaxTracked    = 8192 // queued keys and held-back counters kept
)

// NewEventSink returns an EventSink that passes every event to next, then
// queues in q the messages of the rules the event matches. It returns an
// error, naming the rule, for a nil next or q, no rules, a rule without
// Action, To or Template, a rule on an action of this package
// (notify.*: a message about a message could loop), a rule that tells
// the event's user ([ToUser]) about a step of package account that its
// flows mail the user about themselves (the reset link mailed, the reset
// completed, the verification link mailed, a sign-up with a taken
// address, an address change asked, confirmed or undone: the user would
// be mailed twice; alert the security contacts with [ToAddresses]
// instead), a bad address in
// [ToAddresses], a bad sentence for [Notice] or [Alert], or a negative
// duration in cfg.
func NewEventSink(next audit.Sink, q Enqueuer, rules []Rule, cfg EventSinkConfig) (*EventSink, error) {
	switch {
	case nilarg.Is(next):
		return nil, errors.New("notify: NewEventSink with a nil audit.Sink: pass the sink that stores the events")
	case nilarg.Is(q):
		return nil, errors.New("notify: NewEventSink with a nil Enqueuer: pass the outbox")
	case len(rules) == 0:
		return nil, errors.New("notify: NewEventSink with no rules: pass the rules that say which events notify whom (see notify.Notice and notify.Alert)")
	case cfg.Dedup < 0 || cfg.Timeout < 0:
		return nil, fmt.Errorf("notify: NewEventSink: Dedup %v and Timeout %v must not be negative", cfg.Dedup, cfg.Timeout)
	}
	s := &EventSink{
		next: next, q: q, rules: make(map[audit.Action][]*Rule),
		limiter: cfg.Limiter, dedup: cfg.Dedup, timeout: cfg.Timeout, errLog: cfg.ErrorLog,
		seed:   maphash.MakeSeed(),
		failed: gate.New(time.Minute, 10), held: gate.New(time.Minute, 10),
		queued: newBounded[struct{}](evMaxTracked), counts: newBounded[int](evMaxTracked),
	}
	if s.dedup == 0 {
		s.dedup = 15 * time.Minute
	}
	if s.timeout == 0 {
		s.timeout = 2 * time.Second
	}
	if s.errLog == nil {
		s.errLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if nilarg.Is(s.limiter) {
		// No janitor goroutine: the table is bounded, and idle keys are
		// forgotten as it fills.
		m, err := ratelimit.NewMemory(ratelimit.Limit{Events: 10, Per: time.Hour, Burst: 5},
			ratelimit.MemoryConfig{MaxKeys: 1 << 16, SweepInterval: -1})
		if err != nil {
			return nil, fmt.Errorf("notify: NewEventSink: default limiter: %w", err)
		}
		s.limiter = m
	}
	for i, r := range rules {
		if err := r.prepare(); err != nil {
			return nil, fmt.Errorf("notify: NewEventSink: rules[%d] (%s): %w", i, r.Action, err)
		}
		s.rules[r.Action] = append(s.rules[r.Action], &r)
	}
	return s, nil
}

// prepare checks r and builds its default template.
func (r *Rule) prepare() error {
	switch {
	case r.Action == "":
		return errors.New("the Action is required")
	case strings.HasPrefix(string(r.Action), "notify."):
		return errors.New("a rule on an action of package notify could loop (a message about a message): notify on the events that matter instead")
	case nilarg.Is(r.To):
		return errors.New("the recipients (To) are required: notify.ToUser or notify.ToAddresses")
	case accountNotified[r.Action] && isToUser(r.To):
		return errors.New("package account mails the user about its own steps (reset, password changed, address changed, undone, sign-up): " +
			"a rule telling the user again would mail them twice; alert the security contacts (notify.ToAddresses) instead, " +
			"and change the user's mails with account.Config.Mails")
	}
	if c, ok := r.To.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return err
		}
	}
	if r.Template != nil {
		return nil // NewTemplate checked its kind
	}
	if r.what == "" {
		return errors.New("the Template is required (or build the rule with notify.Notice or notify.Alert)")
	}
	if len(r.what) > evMaxWhat || hasControl(r.what) || !utf8.ValidString(r.what) {
		return fmt.Errorf("the sentence %q must be one line of at most %d bytes of UTF-8", r.what, evMaxWhat)
	}
	var err error
	r.Template, err = defaultTemplate(string(r.Action), r.what, r.Alert)
	return err
}

// Write passes e to the next sink, then queues the messages of the rules e
// matches, and returns the next sink's error only: a message that could
// not be queued is recorded (see [EventSink]), never returned, so that a
// retrying caller does not store e twice. An event that matches no rule
// costs one map lookup. Write returns within [EventSinkConfig].Timeout of
// the next sink's return, whatever the recipients lookup and the outbox
// do, provided they return when their context ends.
func (s *EventSink) Write(ctx context.Context, e audit.Event) error {
	err := s.next.Write(ctx, e)
	if rules := s.rules[e.Action]; len(rules) > 0 {
		s.notify(ctx, e, rules)
	}
	return err
}

// WriteBatch implements audit.BatchSink, so that an audit.AsyncSink above
// an EventSink keeps batching into the next sink: it stores events with
// one WriteBatch when the next sink is an audit.BatchSink (audit/sqlsink,
// audit.JSONLSink), one Write each otherwise (stopping at the first
// failure), then queues the messages of every event in the batch, as
// [EventSink.Write] does whether or not the store succeeded; an event the
// caller retries is not queued twice (one Key, one message). It returns
// how many leading events were stored, and the next sink's error.
func (s *EventSink) WriteBatch(ctx context.Context, events []audit.Event) (int, error) {
	n, err := len(events), error(nil)
	if b, ok := s.next.(audit.BatchSink); ok {
		n, err = b.WriteBatch(ctx, events)
		n = max(0, min(n, len(events)))
	} else {
		for i, e := range events {
			if err = s.next.Write(ctx, e); err != nil {
				n = i
				break
			}
		}
	}
	for _, e := range events {
		if rules := s.rules[e.Action]; len(rules) > 0 {
			s.notify(ctx, e, rules)
		}
	}
	return n, err
}

func (s *EventSink) notify(ctx context.Context, e audit.Event, rules []*Rule) {
	// The request may be over (a client gone): its notice is still due.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	cleanEvent(&e)
	for _, r := range rules {
		if r.Outcome != "" && e.Outcome != r.Outcome {
			continue
		}
		addrs, err := r.To.Recipients(ctx, e)
		if err == nil && len(addrs) > evMaxRecipients {
			addrs, err = addrs[:evMaxRecipients], fmt.Errorf("%d recipients: only the first %d are told", len(addrs), evMaxRecipients)
		}
		if err != nil {
			s.fail(ctx, e, r, "recipients", err)
		}
		for _, to := range addrs {
			s.send(ctx, e, r, to)
		}
	}
}

// send queues the message of rule r about e for to, within the limits.
func (s *EventSink) send(ctx context.Context, e audit.Event, r *Rule, to string) {
	key := s.key(e, r, to)
	h := maphash.String(s.seed, key)
	s.mu.Lock()
	_, seen := s.queued.get(h)
	s.mu.Unlock()
	if seen {
		return // queued already (a retried write): the outbox would drop it
	}
	lk := string(r.Action) + "\x00" + r.Template.kind + "\x00" + to
	lh := maphash.String(s.seed, lk)
	d, err := s.limiter.Allow(ctx, lk)
	if err != nil {
		s.fail(ctx, e, r, "limiter", err)
	}
	if !d.Allowed {
		s.mu.Lock()
		n, _ := s.counts.get(lh)
		s.counts.put(lh, n+1)
		s.mu.Unlock()
		s.heldBack(ctx, e, r)
		return
	}
	s.mu.Lock()
	held, _ := s.counts.get(lh)
	s.counts.del(lh)
	s.mu.Unlock()
	m, err := r.Template.Message(key, to, EventData{Event: e, To: to, HeldBack: held})
	step := "render"
	if err == nil {
		step = "enqueue"
		err = s.q.Enqueue(ctx, m)
	}
	s.mu.Lock()
	if err != nil && held > 0 { // not told: tell them next time
		n, _ := s.counts.get(lh)
		s.counts.put(lh, n+held)
	}
	if err == nil {
		s.queued.put(h, struct{}{})
	}
	s.mu.Unlock()
	if err != nil {
		s.fail(ctx, e, r, step, err)
	}
}

// key is the message's deduplication key: the message kind, then a digest
// of what identifies it. A notice is identified by its event (action,
// outcome, target, actor, request, session and time: the same event
// written twice has them all alike), an alert by its action and target
// and the Dedup window its time falls in; both by the recipient, so that
// each contact gets their own.
func (s *EventSink) key(e audit.Event, r *Rule, to string) string {
	var stack [512]byte
	b := stack[:0]
	field := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field(to)
	field(string(e.Action))
	field(e.Target.Kind)
	field(e.Target.ID)
	t := e.Time.UnixNano()
	if r.Alert {
		field("alert")
		d := int64(s.dedup)
		if t%d < 0 {
			t -= d // floor, not truncation, before 1970
		}
		t /= d
	} else {
		field("notice")
		field(string(e.Outcome))
		field(e.Actor.UserID)
		field(e.RequestID)
		field(e.SessionRef)
	}
	b = binary.AppendVarint(b, t)
	sum := sha256.Sum256(b)
	return r.Template.kind + ":" + hex.EncodeToString(sum[:16])
}

// fail records that the message of r about e was not queued.
func (s *EventSink) fail(ctx context.Context, e audit.Event, r *Rule, step string, err error) {
	s.record(ctx, s.failed, audit.Event{
		Category: audit.CategoryError, Action: ActionQueueFailed, Outcome: audit.OutcomeFailure,
		Target: e.Target, Reason: cut(err.Error()),
		Meta: map[string]string{"step": step, "event_action": string(e.Action), "kind": r.Template.kind},
	})
}

// heldBack records that the rate limit held back the message of r about e.
func (s *EventSink) heldBack(ctx context.Context, e audit.Event, r *Rule) {
	s.record(ctx, s.held, audit.Event{
		Category: audit.CategorySuspicious, Action: ActionHeldBack, Outcome: audit.OutcomeDenied,
		Target: e.Target, Reason: "rate limit of messages of this rule to this recipient",
		Meta: map[string]string{"event_action": string(e.Action), "kind": r.Template.kind},
	})
}

// record writes a paced event of the EventSink's own to the next sink, or
// to ErrorLog if that fails.
func (s *EventSink) record(ctx context.Context, g *gate.Gate, ev audit.Event) {
	ev.Time = time.Now().UTC()
	ok, n := g.Allow(ev.Time)
	if !ok {
		return
	}
	if n > 0 {
		ev.Meta["suppressed"] = strconv.Itoa(n)
	}
	if err := s.next.Write(ctx, ev); err != nil {
		s.errLog.LogAttrs(ctx, slog.LevelError, "notify: recording a message not queued failed",
			slog.String("action", string(ev.Action)), slog.String("reason", ev.Reason),
			slog.Any("meta", ev.Meta), slog.String("error", cut(err.Error())))
	}
}

// cleanEvent replaces, in the text fields of e that a client may choose,
// invalid UTF-8 and control characters (line breaks included) by U+FFFD,
// copying Meta if it changes it. A message must be valid UTF-8 without
// control characters but line breaks and tabs, or the outbox refuses it:
// a client that put a control character in its User-Agent would otherwise
// silence the notice of its own sign-in.
func cleanEvent(e *audit.Event) {
	for _, p := range []*string{&e.UserAgent, &e.Reason, &e.RequestID, &e.SessionRef, &e.Target.Kind, &e.Target.ID, &e.Actor.UserID} {
		*p = cleanText(*p)
	}
	var meta map[string]string
	for k, v := range e.Meta {
		ck, cv := cleanText(k), cleanText(v)
		if ck != k || cv != v {
			if meta == nil {
				meta = make(map[string]string, len(e.Meta))
				for k, v := range e.Meta {
					meta[k] = v
				}
			}
			delete(meta, k)
			meta[ck] = cv
		}
	}
	if meta != nil {
		e.Meta = meta
	}
}

// cleanText returns s with invalid UTF-8 and control characters replaced by
// U+FFFD; s itself, without allocating, when it has none.
func cleanText(s string) string {
	if !hasControl(s) && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// bounded is a map of at most about max entries that forgets the least
// recently used first, roughly: two generations, the older dropped when
// the newer fills.
type bounded[V any] struct {
	cur, old map[uint64]V
	half     int
}

func newBounded[V any](max int) *bounded[V] {
	return &bounded[V]{cur: make(map[uint64]V), old: make(map[uint64]V), half: max / 2}
}

func (b *bounded[V]) get(k uint64) (V, bool) {
	if v, ok := b.cur[k]; ok {
		return v, true
	}
	v, ok := b.old[k]
	if ok {
		delete(b.old, k)
		b.put(k, v)
	}
	return v, ok
}

func (b *bounded[V]) put(k uint64, v V) {
	if _, ok := b.cur[k]; !ok && len(b.cur) >= b.half {
		b.old, b.cur = b.cur, make(map[uint64]V, b.half)
	}
	b.cur[k] = v
}

func (b *bounded[V]) del(k uint64) {
	delete(b.cur, k)
	delete(b.old, k)
}
