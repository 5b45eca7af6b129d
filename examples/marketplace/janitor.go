package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/deployedworks/rampart/audit"
)

// janitorTick is how often the janitor looks for work. Each task has its
// own period (janitorTask.every); the tick only bounds how late it runs.
const janitorTick = time.Minute

// janitorTask is one periodic clean-up task.
type janitorTask struct {
	name  string
	every time.Duration
	// shared tasks work on the database every instance shares: they run
	// once per period for the whole deployment, on whichever instance
	// claims the period first (a lease row in janitor_runs). The others
	// work on what is the instance's own (its audit chain, its SQLite
	// database) and run on each instance.
	shared bool
	// timeout bounds one run. Default: janitorTimeout.
	timeout time.Duration
	run     func(ctx context.Context) error
}

// janitorTimeout bounds one run of a task, unless it says otherwise.
const janitorTimeout = time.Minute

// janitorTasks are the app's clean-up tasks:
//
//	sessions      10 min  shared    expired sessions (sessions in the database only)
//	tokens        10 min  shared    expired account tokens (reset, verification)
//	audit-prune   1 h     shared    audit records past their category's retention
//	outbox-prune  24 h    shared    mail sent or given up on more than 30 days ago
//	audit-rotate  1 h     instance  start a new file of this instance's audit chain, ship its checkpoint
//	backup        each pass  instance  a backup when due (Config.BackupEvery), the staleness warning
func (a *App) janitorTasks() []janitorTask {
	var tasks []janitorTask
	if a.sessSQL != nil {
		tasks = append(tasks, janitorTask{name: "sessions", every: 10 * time.Minute, shared: true, run: func(ctx context.Context) error {
			_, err := a.sessSQL.DeleteExpired(ctx)
			return err
		}})
	}
	tasks = append(tasks,
		janitorTask{name: "tokens", every: 10 * time.Minute, shared: true, run: func(ctx context.Context) error {
			_, err := a.tokenSQL.DeleteExpired(ctx, a.cfg.Now())
			return err
		}},
		janitorTask{name: "audit-prune", every: time.Hour, shared: true, run: func(ctx context.Context) error {
			pruned, err := a.auditStore.pruneRows(ctx) // the owner's function with an audit database
			if err == nil && pruned > 0 {
				a.audit.Log(ctx, audit.Event{Category: audit.CategoryAdmin, Action: ActionAuditPruned, Outcome: audit.OutcomeSuccess,
					Meta: map[string]string{"rows": fmt.Sprint(pruned)}})
			}
			return err
		}},
		janitorTask{name: "outbox-prune", every: 24 * time.Hour, shared: true, run: func(ctx context.Context) error {
			_, err := a.outbox.Prune(ctx, outboxKeep)
			return err
		}},
		janitorTask{name: "audit-rotate", every: time.Hour, run: func(ctx context.Context) error {
			err := a.auditFile.Rotate(ctx)
			a.shipCheckpoint(ctx) // the rotated file's seal, off the host
			return err
		}},
	)
	if a.backups != nil {
		// Every pass: the task itself decides whether a backup is due.
		tasks = append(tasks, janitorTask{name: "backup", timeout: 30 * time.Minute, run: a.backups.run})
	}
	return tasks
}

// janitorState is when each instance task last ran.
type janitorState struct {
	mu      sync.Mutex
	lastRun map[string]time.Time
}

// janitor runs janitorPass every janitorTick (or on each of the test's
// ticks), until Close.
func (a *App) janitor() {
	defer close(a.stopped)
	// Close cancels the task that is running (a long backup, say) rather
	// than wait for it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticks := a.cfg.janitorTicks
	if ticks == nil {
		t := time.NewTicker(janitorTick)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-a.stop:
			return
		case <-ticks:
		}
		ran := a.janitorPass(ctx)
		if a.cfg.janitorDone != nil {
			a.cfg.janitorDone(ran)
		}
	}
}

// janitorPass runs every task that is due and returns the names of those
// it ran. A shared task is due when this instance claims its period; an
// instance task, when its period has passed since it last ran here (or
// since the app started). Failures are logged; the task runs again next
// period.
func (a *App) janitorPass(parent context.Context) []string {
	var ran []string
	for _, task := range a.janitorTasks() {
		if parent.Err() != nil {
			break
		}
		timeout := task.timeout
		if timeout == 0 {
			timeout = janitorTimeout
		}
		ctx, cancel := context.WithTimeout(parent, timeout)
		due, err := a.janitorDue(ctx, task)
		if err == nil && due {
			ran = append(ran, task.name)
			err = task.run(ctx)
		}
		cancel()
		if err != nil {
			a.log.Warn("janitor: "+task.name, "err", err)
		}
	}
	return ran
}

func (a *App) janitorDue(ctx context.Context, task janitorTask) (bool, error) {
	now := a.cfg.Now()
	if task.shared {
		return a.db.claimJanitorRun(ctx, task.name, now, task.every)
	}
	s := &a.janitorRuns
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastRun == nil {
		s.lastRun = map[string]time.Time{}
	}
	last, ok := s.lastRun[task.name]
	if !ok {
		last = a.started
	}
	if now.Sub(last) < task.every {
		return false, nil
	}
	s.lastRun[task.name] = now
	return true, nil
}

// claimJanitorRun claims the current period of task for this instance:
// it reports true, and records now, when no instance ran task in the last
// period. One statement on one row, so that of instances claiming at once
// exactly one gets it, on PostgreSQL and SQLite alike. An instance that
// claims and then fails (or dies) leaves the period's work to the next
// period.
func (s *store) claimJanitorRun(ctx context.Context, task string, now time.Time, every time.Duration) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO janitor_runs (task, ran_at) VALUES (?, ?)
		ON CONFLICT (task) DO UPDATE SET ran_at = excluded.ran_at WHERE janitor_runs.ran_at <= ?`,
		task, ms(now), ms(now.Add(-every)))
	if err != nil {
		return false, fmt.Errorf("store: claim janitor run: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim janitor run: %w", err)
	}
	return n == 1, nil
}
