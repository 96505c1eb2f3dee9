package notifier_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/notifier"
)

// FuzzAlertmanagerWebhook: any body POSTed to /alerts is either refused
// with an EINVALID/ETOOLARGE error (a 4xx) or becomes one stored-ready
// notification per alert, each of which encodes as JSON.
func FuzzAlertmanagerWebhook(f *testing.F) {
	for _, s := range []string{
		`{"version":"4","receiver":"cloudcart","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","severity":"page","service":"order-service"},"annotations":{"summary":"s","runbook_url":"http://x"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://localhost:9090/graph","fingerprint":"abc"}]}`,
		`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"A"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:05:00Z"}]}`,
		`{"version":"3","alerts":[]}`, `{"version":"4","alerts":[]}`, `{"version":"4","alerts":[{}]}`,
		`{"version":"4","alerts":[{"status":"weird","labels":{"alertname":""}}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A","severity":"\u0000"},"annotations":{"summary":"` + string(bytes.Repeat([]byte("x"), 5000)) + `"}}]}`,
		``, `null`, `[]`, `{"version":4}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, ns, err := notifier.DecodeAlerts(bytes.NewReader(body), now)
		if err != nil {
			if c := cloudcart.ErrorCode(err); c != cloudcart.EINVALID && c != cloudcart.ETOOLARGE {
				t.Fatalf("%q: %v is not a 4xx", body, err)
			}
			return
		}
		if len(ns) != len(msg.Alerts) || len(ns) == 0 {
			t.Fatalf("%d alerts became %d notifications", len(msg.Alerts), len(ns))
		}
		for _, n := range ns {
			if n.Kind == "" || n.Title == "" {
				t.Fatalf("notification without kind or title: %+v", n)
			}
			if _, err := json.Marshal(n); err != nil {
				t.Fatalf("notification does not encode: %v", err)
			}
		}
	})
}
