package main_test

import (
	"os/exec"
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
