// Package deploy embeds the deployment files the binary itself needs, so
// `go run ./cmd/cloudcart run` works from any directory with nothing else
// installed: the Prometheus rule files the embedded engine evaluates are
// the very files a real Prometheus loads from this folder.
package deploy

import "embed"

// Rules holds prometheus/rules/*.yml.
//
//go:embed prometheus/rules/*.yml
var Rules embed.FS
