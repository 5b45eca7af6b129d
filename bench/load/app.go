package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// appImport is the example app's import path, built with the repository's
// go.work (bench/ and examples/ are modules of one workspace).
const appImport = "github.com/deployedworks/rampart/examples/marketplace"

// trustedProxy is the network the app is told to believe X-Forwarded-For
// from: the load generator connects from loopback, so it is the proxy.
const trustedProxy = "127.0.0.0/8"

// buildApp compiles the example app into dir and returns the binary's path.
func buildApp(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "marketplace")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, appImport) // #nosec G204 -- the go tool with a constant package and an output path in our temporary directory; no shell
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the example app (%s; run from the repository, whose go.work joins bench/ and examples/, or pass -app): %w\n%s", appImport, err, out)
	}
	return bin, nil
}

// backend names the databases the app runs on; empty fields mean SQLite
// in the data directory and in-memory rate limits and sessions.
type backend struct {
	DatabaseURL string // PostgreSQL URL passed as DATABASE_URL
	RedisURL    string // Redis URL passed as REDIS_URL
}

func (b backend) String() string {
	switch {
	case b.DatabaseURL != "" && b.RedisURL != "":
		return "PostgreSQL + Redis"
	case b.DatabaseURL != "":
		return "PostgreSQL"
	case b.RedisURL != "":
		return "SQLite + Redis"
	}
	return "SQLite, in-memory rate limits"
}

// app is the example app running as a child process on loopback.
type app struct {
	cmd     *exec.Cmd
	pid     int
	base    string // http://127.0.0.1:PORT, where requests are sent
	origin  string // http://localhost:PORT, the app's public URL (Host, Origin)
	host    string // localhost:PORT
	logTail *tail
	done    chan error
}

var upLine = regexp.MustCompile(`msg="marketplace is up" url=(\S+)`)

// startApp runs bin serve in development mode with a fresh data directory
// under dir, listening on a free loopback port, trusting X-Forwarded-For
// from loopback, and waits until it says it is up.
func startApp(ctx context.Context, bin, dir string, be backend) (*app, error) {
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "-data", data, "-addr", "127.0.0.1:0", "-trusted-proxies", trustedProxy, // #nosec G204 -- the app binary this program built (or the one -app names); no shell
		"-max-conns-per-addr", "100000") // every connection comes from the proxy; per-address caps would apply to XFF addresses anyway
	cmd.Env = append(os.Environ(), "DATABASE_URL="+be.DatabaseURL, "REDIS_URL="+be.RedisURL,
		"MARKETPLACE_PROD=", "MARKETPLACE_BREACH_CHECK=0",
		fmt.Sprintf("MARKETPLACE_REDIS_PREFIX=load-%d-%d:", os.Getpid(), time.Now().UnixNano()))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the example app %s: %w", bin, err)
	}
	a := &app{cmd: cmd, pid: cmd.Process.Pid, logTail: &tail{max: 40}, done: make(chan error, 1)}
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			a.logTail.add(line)
			if m := upLine.FindStringSubmatch(line); m != nil {
				select {
				case up <- m[1]:
				default:
				}
			}
		}
		a.done <- cmd.Wait()
	}()
	select {
	case u := <-up:
		pu, err := url.Parse(u)
		if err != nil {
			_ = a.stop()
			return nil, fmt.Errorf("the app's public URL %q: %w", u, err)
		}
		a.origin, a.host = u, pu.Host
		a.base = "http://127.0.0.1:" + pu.Port()
		return a, nil
	case err := <-a.done:
		return nil, fmt.Errorf("the example app exited before it was up (%v); its log:\n%s", err, a.logTail)
	case <-time.After(2 * time.Minute):
		_ = a.stop()
		return nil, fmt.Errorf("the example app was not up within 2 minutes; its log:\n%s", a.logTail)
	case <-ctx.Done():
		_ = a.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the app to exit (SIGKILL after 20 s).
func (a *app) stop() error {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			return nil // ended by the signal
		}
		return err
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		return fmt.Errorf("the example app did not stop within 20 s of SIGTERM; killed")
	}
}

// alive reports an error if the app has exited.
func (a *app) alive() error {
	if err := a.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		return fmt.Errorf("the example app has exited: %w; its log:\n%s", err, a.logTail)
	}
	return nil
}

// procStatusKiB reads a "Name:   N kB" field of /proc/PID/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d (Linux /proc needed): %w", pid, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// rssMiB is the app's resident set now.
func (a *app) rssMiB() (float64, error) {
	k, err := procStatusKiB(a.pid, "VmRSS")
	return float64(k) / 1024, err
}

// peakMiB is the app's peak resident set (VmHWM) since the last resetPeak.
func (a *app) peakMiB() (float64, error) {
	k, err := procStatusKiB(a.pid, "VmHWM")
	return float64(k) / 1024, err
}

// resetPeak resets VmHWM to the current RSS (Linux 4.0+: "5" to
// clear_refs), so that each scenario's peak is its own.
func (a *app) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", a.pid), []byte("5"), 0)
}

// cpu is the app's user+system CPU time so far.
func (a *app) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", a.pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// tail keeps the last lines of the app's log, for error messages.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.max {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, s)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// client is a plain HTTP client for the set-up requests: no redirects
// followed, cookies handled by the caller.
func client() *http.Client {
	return &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
