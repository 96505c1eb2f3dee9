package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/scenario"
)

// cmdChaos talks to a running fleet's chaos admin API: `chaos show` prints
// the faults configured, `chaos reset` clears every one of them (targets,
// route overrides, payment failure rate) and switches chaos off. A plain
// POST /chaos/disable keeps the targets configured for the next enable;
// reset is how to start clean.
func cmdChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: cloudcart chaos [flags] show | reset\n\n"+
			"  show   print the faults configured and whether chaos is on\n"+
			"  reset  clear every fault (targets included) and switch chaos off\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var base, token, tokenFile string
	fs.StringVar(&base, "chaos", scenario.DefaultChaos, "base URL of the chaos service's admin API")
	fs.StringVar(&token, "chaos.token", "", "bearer token of the chaos admin API (default: read from --chaos.token-file)")
	fs.StringVar(&tokenFile, "chaos.token-file", filepath.Join("data", "chaos.token"), "file holding the chaos admin token (cloudcart run writes <data-dir>/chaos.token)")
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "show" && fs.Arg(0) != "reset") {
		fs.Usage()
		return errors.New("want show or reset")
	}
	if token == "" {
		t, err := chaos.ReadToken(tokenFile)
		if err != nil {
			return fmt.Errorf("%w (set --chaos.token, or --chaos.token-file to the <data-dir>/chaos.token of the fleet)", err)
		}
		token = t
	}
	c := &chaosAdmin{base: strings.TrimRight(base, "/"), token: token, client: &http.Client{Timeout: 10 * time.Second}}
	s, err := c.settings(ctx)
	if err != nil {
		return err
	}
	if fs.Arg(0) == "show" {
		fmt.Fprintf(stdout, "chaos %s\n", onOff(s.Enabled))
		for _, f := range s.Configured() {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		if len(s.Configured()) == 0 {
			fmt.Fprintln(stdout, "  no faults configured")
		}
		return nil
	}
	if err := c.put(ctx, cloudcart.ChaosSettings{}); err != nil {
		return err
	}
	for _, f := range s.Configured() {
		fmt.Fprintf(stdout, "cleared %s\n", f)
	}
	fmt.Fprintln(stdout, "chaos off, no faults configured")
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// chaosAdmin is the chaos service's admin API, as the command needs it.
type chaosAdmin struct {
	base, token string
	client      *http.Client
}

func (c *chaosAdmin) settings(ctx context.Context) (cloudcart.ChaosSettings, error) {
	var s cloudcart.ChaosSettings
	err := c.do(ctx, http.MethodGet, nil, &s)
	return s, err
}

func (c *chaosAdmin) put(ctx context.Context, s cloudcart.ChaosSettings) error {
	return c.do(ctx, http.MethodPut, s, nil)
}

func (c *chaosAdmin) do(ctx context.Context, method string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + "/chaos/settings"
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("chaos admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
