package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Channel delivers notifications somewhere people look.
type Channel interface {
	Name() string // the channel label: "slack", "webhook" or "log"
	Send(ctx context.Context, n *cloudcart.Notification) error
}

// Failure reasons, the closed set of notification_notifications_failed_total's
// reason label.
const (
	ReasonTimeout         = "timeout"
	ReasonNetwork         = "network"
	ReasonRateLimited     = "rate_limited"
	ReasonServerError     = "server_error"
	ReasonInvalidPayload  = "invalid_payload"
	ReasonInvalidToken    = "invalid_token"
	ReasonChannelNotFound = "channel_not_found"
	ReasonRejected        = "rejected"
	ReasonNotConfigured   = "not_configured"
)

// failureReasons lists the reasons above, each started at zero per channel.
var failureReasons = []string{ReasonTimeout, ReasonNetwork, ReasonRateLimited, ReasonServerError,
	ReasonInvalidPayload, ReasonInvalidToken, ReasonChannelNotFound, ReasonRejected, ReasonNotConfigured}

// SendError is a failed send: its reason label, and whether a later
// attempt may succeed.
type SendError struct {
	Reason    string
	Retryable bool
	Err       error
}

func (e *SendError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// reasonOf classifies any send error.
func reasonOf(err error) (reason string, retryable bool) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Reason, se.Retryable
	}
	return ReasonNetwork, true
}

// postJSON posts v and classifies the outcome the way Slack documents its
// incoming-webhook answers: 2xx ok; 429 and 5xx retryable; other 4xx final.
func postJSON(ctx context.Context, client *http.Client, target string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &SendError{Reason: ReasonInvalidPayload, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &SendError{Reason: ReasonNotConfigured, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return &SendError{Reason: ReasonTimeout, Retryable: true, Err: err}
		}
		return &SendError{Reason: ReasonNetwork, Retryable: true, Err: err}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(msg))
	werr := fmt.Errorf("HTTP %d: %s", resp.StatusCode, text)
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusTooManyRequests:
		return &SendError{Reason: ReasonRateLimited, Retryable: true, Err: werr}
	case s >= 500:
		return &SendError{Reason: ReasonServerError, Retryable: true, Err: werr}
	case s == http.StatusUnauthorized || s == http.StatusForbidden || text == "invalid_token":
		return &SendError{Reason: ReasonInvalidToken, Err: werr}
	case s == http.StatusNotFound || s == http.StatusGone:
		return &SendError{Reason: ReasonChannelNotFound, Err: werr}
	case s == http.StatusBadRequest:
		return &SendError{Reason: ReasonInvalidPayload, Err: werr}
	}
	return &SendError{Reason: ReasonRejected, Err: werr}
}

// SlackChannel posts to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks): a top-level "text" (the
// notification fallback) and Block Kit blocks.
type SlackChannel struct {
	URL    string
	Client *http.Client
}

// Name implements Channel.
func (c *SlackChannel) Name() string { return "slack" }

// Send implements Channel.
func (c *SlackChannel) Send(ctx context.Context, n *cloudcart.Notification) error {
	return postJSON(ctx, c.Client, c.URL, SlackMessage(n))
}

// SlackPayload is the JSON body of an incoming-webhook post.
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit layout block.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"` // "plain_text" or "mrkdwn"
	Text string `json:"text"`
}

// Slack's limits on block contents.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldsMax  = 10
	slackFieldMax   = 2000
)

var severityEmoji = map[string]string{
	"page": ":rotating_light:", cloudcart.SeverityCritical: ":rotating_light:",
	"ticket": ":warning:", cloudcart.SeverityWarning: ":warning:",
	cloudcart.SeverityInfo: ":information_source:",
}

// SlackMessage renders n for Slack.
func SlackMessage(n *cloudcart.Notification) SlackPayload {
	emoji := severityEmoji[n.Severity]
	if strings.HasPrefix(n.Title, "[RESOLVED]") {
		emoji = ":white_check_mark:"
	}
	text := slackEscape(n.Text)
	if n.Link != "" {
		if u, err := url.Parse(n.Link); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			text += fmt.Sprintf("\n<%s|Open in Prometheus>", slackEscape(n.Link))
		}
	}
	p := SlackPayload{
		Text: strings.TrimSpace(emoji + " " + n.Title),
		Blocks: []SlackBlock{
			{Type: "header", Text: &SlackText{Type: "plain_text", Text: clip(strings.TrimSpace(emoji+" "+n.Title), slackHeaderMax)}},
			{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clip(text, slackSectionMax)}},
		},
	}
	keys := make([]string, 0, len(n.Fields))
	for k := range n.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var fields []SlackText
	for _, k := range keys {
		if len(fields) == slackFieldsMax {
			break
		}
		fields = append(fields, SlackText{Type: "mrkdwn", Text: clip("*"+slackEscape(k)+"*\n"+slackEscape(n.Fields[k]), slackFieldMax)})
	}
	if len(fields) > 0 {
		p.Blocks = append(p.Blocks, SlackBlock{Type: "section", Fields: fields})
	}
	p.Blocks = append(p.Blocks, SlackBlock{Type: "context", Elements: []SlackText{{Type: "mrkdwn",
		Text: fmt.Sprintf("%s · %s · CloudCart notification-worker · %s", slackEscape(n.Severity), slackEscape(n.Kind), n.CreatedAt.UTC().Format(time.RFC3339))}}})
	return p
}

// slackEscaper is built once: a Replacer builds its lookup tables on first
// use, and building one per call was a quarter of the bytes the whole
// fleet allocated in the order benchmark (docs/benchmarks.md).
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string { return slackEscaper.Replace(s) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n-3 {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// WebhookChannel posts the notification as JSON to any HTTP endpoint.
type WebhookChannel struct {
	URL    string
	Client *http.Client
}

// WebhookPayload is the body WebhookChannel posts.
type WebhookPayload struct {
	Version      string                  `json:"version"`
	Notification *cloudcart.Notification `json:"notification"`
}

// Name implements Channel.
func (c *WebhookChannel) Name() string { return "webhook" }

// Send implements Channel.
func (c *WebhookChannel) Send(ctx context.Context, n *cloudcart.Notification) error {
	return postJSON(ctx, c.Client, c.URL, WebhookPayload{Version: "1", Notification: n})
}

// LogChannel writes notifications to the log: the channel of last resort
// when no webhook is configured.
type LogChannel struct{ Logger *slog.Logger }

// Name implements Channel.
func (c *LogChannel) Name() string { return "log" }

// Send implements Channel. Routine notifications (severity info: every
// order event) are logged at debug, or a shop under load would fill the
// terminal; warnings, alerts and anything else at info.
func (c *LogChannel) Send(ctx context.Context, n *cloudcart.Notification) error {
	level := slog.LevelInfo
	if n.Severity == cloudcart.SeverityInfo {
		level = slog.LevelDebug
	}
	c.Logger.Log(ctx, level, "notification", "id", n.ID, "kind", n.Kind, "severity", n.Severity, "title", n.Title, "text", n.Text)
	return nil
}
