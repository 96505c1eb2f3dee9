package main_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestScenarioCommand: `scenario list` describes every scenario; bad
// arguments, a missing token and an unreachable fleet fail with a message
// that says why (internal/scenario's end-to-end test runs the scenarios).
func TestScenarioCommand(t *testing.T) {
	out, err := exec.Command(binary, "scenario", "list").Output()
	if err != nil {
		t.Fatalf("scenario list: %v", err)
	}
	for _, name := range []string{"latency-spike", "payment-outage", "error-spike", "consumer-lag", "service-down", "low-stock"} {
		if !strings.Contains(string(out), name+" — ") {
			t.Errorf("scenario list does not describe %s:\n%s", name, out)
		}
	}
	token := "--chaos.token=0123456789abcdef0123"
	for _, tc := range []struct {
		args     []string
		mentions string
	}{
		{[]string{"scenario"}, "name a scenario"},
		{[]string{"scenario", "flood"}, `unknown scenario "flood"`},
		{[]string{"scenario", "--service", "notifier", "service-down"}, "--service"},
		{[]string{"scenario", "--chaos.token-file", "/nonexistent/chaos.token", "service-down"}, "chaos token"},
		{[]string{"scenario", token, "--chaos", "http://127.0.0.1:1", "--prometheus", "http://127.0.0.1:1", "service-down"},
			"FAIL service-down: chaos admin API at http://127.0.0.1:1"},
		{[]string{"chaos"}, "want show or reset"},
		{[]string{"chaos", "--chaos.token-file", "/nonexistent/chaos.token", "reset"}, "chaos token"},
		{[]string{"chaos", token, "--chaos", "http://127.0.0.1:1", "reset"}, "chaos admin API"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := exec.Command(binary, tc.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.mentions) {
				t.Fatalf("err %v, output %q; want failure mentioning %q", err, out, tc.mentions)
			}
		})
	}
}

// TestHelpText: `cloudcart -h` lines its commands' descriptions up in one
// column, and no command's -h shows a flag with a made-up argument name
// (flag.PrintDefaults takes a back-quoted word of the usage for one).
func TestHelpText(t *testing.T) {
	out, err := exec.Command(binary, "-h").Output()
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^  ([a-z]+)( +)\S`)
	col := -1
	for _, l := range strings.Split(string(out), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if c := len(m[1]) + len(m[2]); col == -1 {
			col = c
		} else if c != col {
			t.Errorf("cloudcart -h: %q starts its description at column %d, the others at %d", m[1], c, col)
		}
	}
	if col == -1 {
		t.Fatalf("no command rows in:\n%s", out)
	}
	flagLine := regexp.MustCompile(`^  -[a-z0-9.-]+( (string|int|int64|uint|float|duration|value))?$`)
	for _, cmd := range []string{"run", "serve", "load", "scenario", "chaos"} {
		out, _ := exec.Command(binary, cmd, "-h").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "  -") && !flagLine.MatchString(l) {
				t.Errorf("cloudcart %s -h: %q", cmd, l)
			}
		}
	}
}
