//go:build unix

package testenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func init() {
	if v := os.Getenv(envSummary); v != "" {
		watch(v) // a re-executed test binary: the watcher, nothing else
		os.Exit(0)
	}
}

var skipFile = sync.OnceValue(func() string {
	pid := os.Getppid()
	args, ok := goCommand(pid)
	if !ok {
		return "" // not run by the go command: no summary to write
	}
	for _, a := range args {
		if a == "-json" || a == "--json" || a == "-json=true" || a == "--json=true" {
			return "" // the summary would corrupt go test's JSON
		}
	}
	if f := flag.Lookup("test.v"); f != nil && f.Value.String() == "test2json" {
		return ""
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("rampart-skips-%d-%s", pid, startTime(pid)))
})

// recordSkip appends a record to the skip file of the go command that
// runs this binary, starting the watcher if no binary has yet.
func recordSkip(env, test string) {
	file := skipFile()
	if file == "" {
		return
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- file is the summary path testenv chose, not input
	if err != nil {
		return
	}
	_, _ = f.WriteString(skipLine(env, test)) // one small write: atomic with O_APPEND
	_ = f.Close()
	uncache()
	lock, err := os.OpenFile(file+".lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- file is the summary path testenv chose, not input
	if err != nil {
		return // another binary started the watcher
	}
	_ = lock.Close()
	self, err := os.Executable()
	if err != nil {
		return
	}
	cmd := exec.Command(self) // #nosec G204 -- re-executes the test binary itself (os.Executable)
	// The go command's work directory: the parent of this binary's.
	work := filepath.Dir(filepath.Dir(self))
	cmd.Env = append(os.Environ(), envSummary+"="+strconv.Itoa(os.Getppid())+"\t"+work+"\t"+file)
	// No stdin, stdout or stderr: the go command must not wait for the
	// watcher, which outlives this binary.
	if cmd.Start() == nil {
		_ = cmd.Process.Release()
	}
}

// uncache keeps go test from caching this package's result, so that the
// next run counts its skips again instead of replaying "ok (cached)": the
// go command rechecks the directories a test changed into, so the binary
// changes into its own working directory through a symbolic link that the
// watcher deletes. The working directory stays the same directory
// throughout (the link resolves to it), so tests running in parallel are
// not disturbed.
var uncache = sync.OnceFunc(func() {
	wd, err := os.Getwd()
	if err != nil {
		return
	}
	link := skipFile() + "." + strconv.Itoa(os.Getpid()) + ".cwd"
	if os.Symlink(wd, link) != nil {
		return
	}
	old, had := os.LookupEnv("PWD")
	_ = os.Setenv("PWD", link) // what os.Chdir reports to the go command
	changed := os.Chdir(link) == nil
	if had {
		_ = os.Setenv("PWD", old)
	} else {
		_ = os.Unsetenv("PWD")
	}
	if changed {
		_ = os.Chdir(wd)
	}
})

// watch waits for the go command to finish and writes the summary.
//
// It writes as soon as the go command removes its work directory (the
// parent of this test binary's directory), which it does after its last
// line and just before it exits, so that the summary comes before the
// shell's next prompt; or, failing that (go test -work), once the go
// command has exited.
func watch(v string) {
	f := strings.Split(v, "\t")
	if len(f) != 3 {
		return
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return
	}
	work, file := f[1], f[2]
	if !strings.HasPrefix(filepath.Base(work), "go-build") {
		work = ""
	}
	out := summaryOut(pid)
	if out == nil {
		// Nowhere to write; the files still go.
		defer cleanSkipFiles(file)
	}
	deadline := time.Now().Add(24 * time.Hour)
	for time.Now().Before(deadline) && running(pid) {
		if work != "" {
			if _, err := os.Stat(work); errors.Is(err, os.ErrNotExist) { // #nosec G703 -- work is a path this test process built under its own temporary directory
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if out == nil {
		return
	}
	if s := summarize(cleanSkipFiles(file)); s != "" {
		_, _ = out.WriteString(s)
	}
	_ = out.Close()
}

// summaryOut opens where the summary goes: the go command's standard
// output when that is a terminal or a pipe (Linux: opened while the go
// command runs), else the terminal, else nowhere (nil). It never writes to
// a regular file: the shell's next write there would overwrite it.
func summaryOut(pid int) *os.File {
	if f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/fd/1", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		if fi, err := f.Stat(); err == nil && fi.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) != 0 {
			return f
		}
		_ = f.Close()
	}
	if f, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		return f
	}
	return nil
}

// running reports whether process pid has not exited (a zombie has).
func running(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS != "linux"
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// cleanSkipFiles removes the skip file, its lock and the links of
// uncache, and returns the skip file's records.
func cleanSkipFiles(file string) string {
	links, _ := filepath.Glob(file + ".*.cwd")
	for _, l := range links {
		_ = os.Remove(l) // #nosec G703 -- l is a lock file this test process created
	}
	return readAndRemove(file)
}

// goCommand reports whether process pid is the go command, with its
// arguments.
func goCommand(pid int) ([]string, bool) {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			return nil, false
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		return args, len(args) > 1 && filepath.Base(args[0]) == "go" && args[1] == "test"
	}
	b, err := exec.Command("ps", "-o", "args=", "-p", strconv.Itoa(pid)).Output() // #nosec G204 -- ps with a numeric pid; no shell
	if err != nil {
		return nil, false
	}
	args := strings.Fields(string(b))
	return args, len(args) > 1 && filepath.Base(args[0]) == "go" && args[1] == "test"
}

// startTime tells two processes that had the same pid apart, so that a
// skip file left by a killed watcher is never reused.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "0"
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return f[19] // starttime, in clock ticks since boot
		}
	}
	return "0"
}
