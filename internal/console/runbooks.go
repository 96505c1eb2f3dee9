package console

import (
	"net/http"
	"strings"
	"unicode"

	"github.com/cloudcart/cloudcart/docs"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Runbook is one section of docs/runbooks.md: an alert's runbook, or the
// introduction (Anchor "").
type Runbook struct {
	Anchor   string `json:"anchor"`   // GitHub's anchor of the heading, e.g. "higherrorrate"
	Title    string `json:"title"`    // the heading, e.g. "HighErrorRate"
	Markdown string `json:"markdown"` // the section's text below its heading
}

// Runbooks splits docs/runbooks.md at its level-2 headings (outside code
// blocks). The browser renders each section's markdown as text nodes, so
// nothing in the document becomes markup.
func Runbooks() []Runbook {
	return splitRunbooks(docs.Runbooks)
}

func splitRunbooks(md string) []Runbook {
	var (
		out   []Runbook
		cur   = Runbook{Title: "Runbooks"}
		body  []string
		fence bool
	)
	flush := func() {
		cur.Markdown = strings.TrimSpace(strings.Join(body, "\n"))
		out = append(out, cur)
		body = nil
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		switch {
		case !fence && strings.HasPrefix(line, "## "):
			flush()
			title := strings.TrimSpace(strings.TrimPrefix(line, "## "))
			cur = Runbook{Anchor: Anchor(title), Title: title}
		case !fence && strings.HasPrefix(line, "# ") && len(out) == 0 && len(body) == 0:
			cur.Title = strings.TrimSpace(strings.TrimPrefix(line, "# "))
		default:
			body = append(body, line)
		}
	}
	flush()
	return out
}

// Anchor is the anchor GitHub gives a markdown heading: lower case,
// punctuation dropped, spaces as hyphens ("HighErrorRate" → "higherrorrate").
func Anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// runbooks serves every section: GET /console/api/runbooks.
func (c *Console) runbooks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"runbooks": c.books, "source": "docs/runbooks.md"})
}
