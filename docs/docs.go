// Package docs embeds the documents the binary serves itself: the
// console (internal/console) shows the runbooks of docs/runbooks.md on
// its own pages, so an alert's runbook opens without network access.
package docs

import _ "embed"

// Runbooks is docs/runbooks.md.
//
//go:embed runbooks.md
var Runbooks string
