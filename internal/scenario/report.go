package scenario

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteList describes the scenarios for `cloudcart scenario list`.
func WriteList(w io.Writer, scs []Scenario) error {
	for i, sc := range scs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s — %s\n", sc.Name, sc.Title)
		fmt.Fprintf(w, "  %s\n", sc.Description)
		fmt.Fprintf(w, "  cause:  %s\n", sc.Cause)
		fmt.Fprintf(w, "  expect: %s (%s) firing, and its notification\n", sc.Expect, sc.Severity)
		if len(sc.Also) > 0 {
			fmt.Fprintf(w, "  also:   %s\n", strings.Join(sc.Also, ", "))
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteTimeline prints one run as a table: each step's time from the
// cause, and what it was; then PASS or FAIL with the headline figures.
func WriteTimeline(w io.Writer, res Result) error {
	if res.Skipped {
		_, err := fmt.Fprintf(w, "SKIP %s: %s\n\n", res.Scenario, res.Error)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\t%s\t\n", "  time", "step", "detail")
	for _, e := range res.Events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", FormatOffset(e.Offset), e.Step, e.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !res.Passed {
		_, err := fmt.Fprintf(w, "FAIL %s: %s\n\n", res.Scenario, res.Error)
		return err
	}
	line := fmt.Sprintf("PASS %s: %s notified %s after the cause", res.Scenario, res.Alert, FormatDuration(res.CauseToNotification))
	if res.RestoreToResolved > 0 {
		line += fmt.Sprintf(", resolved %s after the restore", FormatDuration(res.RestoreToResolved))
	}
	_, err := fmt.Fprintln(w, line+"\n")
	return err
}

// FormatOffset prints an offset from the cause as +12.3s.
func FormatOffset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + FormatDuration(d)
}

// FormatDuration prints d to a tenth of a second: 950ms, 12.3s, 1m4.5s.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
