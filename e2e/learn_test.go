package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLearnInBrowser completes two lessons of the console's Learn page in
// headless Chromium on a fresh fleet (demo profile, no traffic but the
// lessons' own): "instruments" by clicking its two buttons, and "alerts"
// by clicking its simulation, watching HighErrorRate's pending check turn
// green before its firing check does. Both lessons then show as done on
// the lesson list.
//
// Skipped without chromium, except under CI=true, where it fails.
func TestLearnInBrowser(t *testing.T) {
	browser := mustChromium(t)
	f := mustFleetWithPrometheus(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctx = newBrowser(t, ctx, browser, 1280, 1000)
	errs := collectConsoleErrors(ctx)

	b := &browserPage{t: t, ctx: ctx, load: func() {}, dir: artifactDir(t), base: f.URL("prometheus")}
	b.open("/learn")
	b.waitJS("the lesson list", 30*time.Second,
		`document.querySelectorAll('#lessons li').length >= 10 && document.querySelector('#learn-progress')?.dataset.done === '0'`)

	// Lesson "instruments": place an order and a failing one, by button.
	b.open("/learn/instruments")
	b.waitJS("the instruments lesson", 20*time.Second,
		`document.querySelector('#lesson[data-id="instruments"] button[data-action="2"]') !== null`)
	for _, n := range []int{1, 2} {
		b.eval(fmt.Sprintf(`document.querySelector('button[data-action="%d"]').click()`, n), nil)
		b.waitJS(fmt.Sprintf("button %d's answer", n), 30*time.Second,
			fmt.Sprintf(`document.querySelector('button[data-action="%d"] + .result').dataset.status !== undefined`, n),
			fmt.Sprintf(`document.querySelector('button[data-action="%d"] + .result').textContent`, n))
	}
	if got := b.eval(`document.querySelector('button[data-action="2"] + .result').dataset.status`, nil); got != "402" {
		t.Errorf("the failing order answered %s, want 402", got)
	}
	b.waitJS("every check of the instruments lesson green", time.Minute,
		`document.querySelector('#lesson-status')?.dataset.done === '1'`,
		`[...document.querySelectorAll('.check')].map(c => c.dataset.ok + ' ' + c.textContent).join(' | ')`)
	b.screenshot("learn-instruments")

	// Lesson "alerts": 200 simulated orders, half failing. The first check
	// (pending) must turn green while the second (firing) is still grey:
	// that is what `for` does.
	b.open("/learn/alerts")
	b.waitJS("the alerts lesson", 20*time.Second, `document.querySelector('#lesson[data-id="alerts"] button[data-action="0"]') !== null`)
	b.eval(`document.querySelector('button[data-action="0"]').click()`, nil)
	var states []string
	deadline := time.Now().Add(2 * time.Minute)
	sawPendingOnly := false
	for {
		s := b.eval(`[...document.querySelectorAll('.check')].map(c => c.dataset.ok).join(',')`, nil)
		if len(states) == 0 || states[len(states)-1] != s {
			states = append(states, s)
		}
		if s == "1,0" {
			sawPendingOnly = true
		}
		if s == "1,1" {
			break
		}
		if time.Now().After(deadline) {
			b.screenshot("learn-alerts-timeout")
			t.Fatalf("HighErrorRate's checks did not both pass within 2 minutes; states seen: %v", states)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !sawPendingOnly {
		t.Errorf("never saw pending green while firing was not: check states %v", states)
	}
	b.waitJS("the alerts lesson done", 10*time.Second, `document.querySelector('#lesson-status')?.dataset.done === '1'`)
	b.screenshot("learn-alerts")

	b.open("/learn")
	b.waitJS("both lessons done on the list", 10*time.Second,
		`document.querySelector('#lessons li[data-id="instruments"]')?.dataset.done === '1' &&
		 document.querySelector('#lessons li[data-id="alerts"]')?.dataset.done === '1' &&
		 document.querySelector('#learn-progress')?.dataset.done === '2'`)
	if text := b.eval(`document.body.innerText`, nil); strings.Contains(text, "NaN") || strings.Contains(text, "undefined") {
		t.Errorf("the Learn page shows NaN or undefined")
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("browser console errors: %v", e)
	}
}
