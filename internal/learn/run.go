package learn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Runner performs lesson actions and evaluates checks against a fleet.
// The console's Learn buttons and the lessons' tests both use it, so what
// a test proves reachable is what a button does.
type Runner struct {
	// BaseURL is the base URL of a service by serve name, "" when the
	// fleet does not run it.
	BaseURL func(service string) string
	// EngineURL is the Prometheus API's base URL.
	EngineURL string
	// ChaosToken is sent with actions that need it.
	ChaosToken string
	Client     *http.Client
	Now        func() time.Time
}

// Result is what one action did.
type Result struct {
	Status int    `json:"status"`           // the last response's status
	Body   string `json:"body"`             // its first 2 KiB
	Counts string `json:"counts,omitempty"` // for repeated requests: "200×12 503×8"
}

func (r *Runner) client() *http.Client {
	if r.Client != nil {
		return r.Client
	}
	// A lesson's /simulate of 200 orders pays for each in turn (20-50 ms
	// of simulated payment apiece): seconds on a quiet laptop, more on a
	// busy one.
	return &http.Client{Timeout: time.Minute}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Do performs an HTTP action. A 4xx or 5xx answer is a result, not an
// error: showing it is part of the lesson (a chaos-injected 503, say).
func (r *Runner) Do(ctx context.Context, a Action) (Result, error) {
	if !a.HTTP() {
		return Result{}, fmt.Errorf("%q is not a request", a.Label)
	}
	base := r.BaseURL(a.Service)
	if base == "" {
		return Result{}, fmt.Errorf("this fleet does not run the %s service", a.Service)
	}
	if a.Chaos && r.ChaosToken == "" {
		return Result{}, fmt.Errorf("%q needs the chaos admin token, which this console does not have", a.Label)
	}
	var res Result
	counts := map[int]int{}
	var order []int
	for range max(a.Repeat, 1) {
		var body io.Reader
		if a.Body != "" {
			body = strings.NewReader(strings.ReplaceAll(a.Body, NowNanos, strconv.FormatInt(r.now().UnixNano(), 10)))
		}
		req, err := http.NewRequestWithContext(ctx, a.Method, strings.TrimSuffix(base, "/")+a.Path, body)
		if err != nil {
			return Result{}, err
		}
		if a.Body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if a.Chaos {
			req.Header.Set("Authorization", "Bearer "+r.ChaosToken)
		}
		resp, err := r.client().Do(req)
		if err != nil {
			return Result{}, fmt.Errorf("%s %s: %w", a.Method, a.Path, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		res = Result{Status: resp.StatusCode, Body: string(b)}
		if counts[resp.StatusCode] == 0 {
			order = append(order, resp.StatusCode)
		}
		counts[resp.StatusCode]++
	}
	if a.Repeat > 1 {
		var parts []string
		for _, s := range order {
			parts = append(parts, fmt.Sprintf("%d×%d", s, counts[s]))
		}
		res.Counts = strings.Join(parts, " ")
	}
	return res, nil
}

// Passes evaluates a check now: true when a query returns at least one
// sample, or an API answers 200 with a non-empty data array.
func (r *Runner) Passes(ctx context.Context, c Check) (bool, error) {
	var u string
	if c.Query != "" {
		u = r.EngineURL + "/api/v1/query?" + url.Values{"query": {c.Query}}.Encode()
	} else {
		u = r.EngineURL + c.APIPath(r.now().Unix())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&body); err != nil {
		return false, fmt.Errorf("%s: %s, not JSON: %w", c.Description, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s: %s", c.Description, resp.Status, body.Error)
	}
	if c.Query != "" {
		var d struct {
			Result []json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(body.Data, &d); err != nil {
			return false, fmt.Errorf("%s: %w", c.Description, err)
		}
		return len(d.Result) > 0, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body.Data, &items); err != nil {
		return false, fmt.Errorf("%s: data is not an array: %w", c.Description, err)
	}
	return len(items) > 0, nil
}
