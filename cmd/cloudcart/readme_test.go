package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/scenario"
)

// readmeBlock is one fenced sh block of README.md.
type readmeBlock struct {
	line int    // of the opening fence
	text string // the commands
	skip string // the reason the test does not run it, "" to run it
}

var (
	skipMark   = regexp.MustCompile(`^<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->$`)
	expectMark = regexp.MustCompile(`\s+#\s*expect:\s*(\d{3}|any)\b.*$`)
)

// readmeBlocks extracts the ```sh blocks of the README, in order, with the
// skip mark of the line just before each.
func readmeBlocks(tb testing.TB, path string) []readmeBlock {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var (
		out      []readmeBlock
		cur      *readmeBlock
		prev     string
		n        int
		sc       = bufio.NewScanner(f)
		fenceOff = "```"
	)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &readmeBlock{line: n}
			if m := skipMark.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.skip = m[1]
			}
		case cur != nil && strings.TrimSpace(line) == fenceOff:
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if cur != nil {
		tb.Fatalf("README.md:%d: sh block never closed", cur.line)
	}
	return out
}

// readmePrelude makes the script strict in both shells and checks every
// curl's HTTP status: a 4xx or 5xx fails it (--fail-with-body still shows
// the error's JSON) unless README_STATUS, set from a line's
// `# expect: STATUS` mark, says which status that command answers.
const readmePrelude = `if [ -n "${ZSH_VERSION:-}" ]; then setopt ERR_EXIT PIPE_FAIL; else set -eo pipefail; fi
README_STATUS=
curl() {
  if [ "$README_STATUS" = any ]; then
    command curl "$@"
  elif [ -n "$README_STATUS" ]; then
    readme_code=$(command curl -o /dev/stderr -w '%{http_code}' "$@")
    echo >&2
    if [ "$readme_code" != "$README_STATUS" ]; then
      echo "README test: HTTP $readme_code, the README says $README_STATUS" >&2
      return 1
    fi
  else
    command curl --fail-with-body "$@" || {
      readme_rc=$?
      echo "README test: curl $* failed (exit $readme_rc)" >&2
      return $readme_rc
    }
  fi
}
`

// readmeScript turns the blocks into one script: each runnable block after
// a line naming it, each `# expect:` line wrapped in README_STATUS.
func readmeScript(blocks []readmeBlock) (script string, run int) {
	var b strings.Builder
	b.WriteString(readmePrelude)
	for _, bl := range blocks {
		if bl.skip != "" {
			continue
		}
		run++
		fmt.Fprintf(&b, "echo '=== README.md:%d' >&2\n", bl.line)
		lines := strings.Split(strings.TrimSuffix(bl.text, "\n"), "\n")
		start := 0 // first physical line of the logical line
		for i, l := range lines {
			if strings.HasSuffix(l, "\\") {
				continue
			}
			if m := expectMark.FindStringSubmatch(l); m != nil {
				lines[i] = expectMark.ReplaceAllString(l, "") + "; README_STATUS="
				lines[start] = "README_STATUS=" + m[1] + "; " + lines[start]
			}
			start = i + 1
		}
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	b.WriteString("echo '=== README.md: every block passed' >&2\n")
	return b.String(), run
}

// TestREADMEBlocksParse: the extraction finds the walkthrough, the skip
// marks and the expected statuses, and rewrites only the marked lines.
func TestREADMEBlocksParse(t *testing.T) {
	blocks := readmeBlocks(t, "../../README.md")
	script, run := readmeScript(blocks)
	skipped := 0
	for _, b := range blocks {
		if b.skip != "" {
			skipped++
		}
	}
	if run < 5 || skipped < 5 {
		t.Fatalf("%d blocks run, %d skipped: the README's marks were not found", run, skipped)
	}
	for _, want := range []string{
		"README_STATUS=401; curl -s localhost:8080/api/orders; echo; README_STATUS=",
		"README_STATUS=402; curl -s -X POST 'localhost:8003/orders?fail=true' \\\n",
		"bin/cloudcart chaos reset",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q", want)
		}
	}
	// The README lists the scenarios in the order `scenario all` runs them.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if order := strings.Join(scenario.Names(), " "); !strings.Contains(string(readme), "scenario all           # "+order) {
		t.Errorf("the README's `scenario all` line does not list the scenarios in their order: %s", order)
	}
	if strings.Contains(script, "docker compose") || strings.Contains(script, "kubectl") || strings.Contains(script, "k6 run") {
		t.Error("a block that needs external infrastructure is in the script")
	}
}

// TestREADME runs the README's walkthrough, extracted from README.md now,
// under bash and zsh, each against a fresh `cloudcart run` on the default
// ports the README uses, with the built binary at bin/cloudcart.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the fleet twice on the default ports")
	}
	for _, p := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("the README's walkthrough needs %s: %v", p, err)
		}
	}
	shells := []string{"bash"}
	if _, err := exec.LookPath("zsh"); err == nil {
		shells = append(shells, "zsh")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("zsh not found: the README must work in zsh (.ci/run installs it)")
	} else {
		t.Log("zsh not found: the README runs under bash only")
	}
	blocks := readmeBlocks(t, "../../README.md")
	script, run := readmeScript(blocks)
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d not run: %s", b.line, b.skip)
		}
	}
	lockDefaultPorts(t)
	for _, sh := range shells {
		t.Run(sh, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(binary, filepath.Join(dir, "bin", "cloudcart")); err != nil {
				t.Fatal(err)
			}
			p := mustStartDefault(t, dir)
			path := filepath.Join(dir, "readme."+sh)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, sh, path)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %d README blocks: %v\n%s\nfleet stderr (tail):\n%s", sh, run, err, out, tail(p.stderr.String(), 3000))
			}
			if !strings.Contains(string(out), "every block passed") {
				t.Fatalf("%s stopped early:\n%s", sh, out)
			}
			p.stop(t)
		})
	}
}

// lockDefaultPorts serialises the tests that need the default ports across
// processes (other packages' tests, other checkouts on this machine) with
// an exclusive lock on a well-known file, and fails at once when a port is
// held by something else, such as a `make run` left running.
func lockDefaultPorts(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "cloudcart-default-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
	for _, p := range fleet.Planned {
		addr := fmt.Sprintf("127.0.0.1:%d", p.Port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			tb.Fatalf("%s's default port %s is taken (a `make run` still up?): %v", p.Name, addr, err)
		}
		l.Close()
	}
}

// mustStartDefault starts `cloudcart run` in dir as the README does: the
// default ports, flags and background load, but bcrypt at its lowest
// accepted cost: at the default 12, a machine busy with other tests'
// packages takes over the gateway's 10 s upstream timeout to register the
// load generator's users, and the README's `--max-error-rate` would fail
// on the test machine, not on the README; and no payment declined at
// random: the README's one real order would then be a 402 (the
// simulated provider declines 0.5% by default; a CI run once failed on a
// 4xx of that order, most likely so), while its `?fail=true` order still
// shows the declined path.
func mustStartDefault(tb testing.TB, dir string) *proc {
	tb.Helper()
	cmd := exec.Command(binary, "run", "--users.bcrypt-cost=10", "--orders.payment-failure-rate=0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_SERVICE_NAME=")
	p := &proc{cmd: cmd, urls: map[string]string{}, stderr: &fleettest.Buffer{}}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for _, s := range fleet.Planned {
		u := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.Port)
		mustEventually(tb, 60*time.Second, s.Name+" ready", func() bool {
			resp, err := http.Get(u)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
