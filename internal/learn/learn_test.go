package learn_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/learn"
)

var update = flag.Bool("update", false, "rewrite docs/tutorial.md from the lessons")

// repo is the repository root, from this package's directory.
const repo = "../.."

func site() learn.Site {
	return learn.Site{
		BaseURL: func(service string) string {
			for _, p := range fleet.Planned {
				if p.Name == service {
					return fmt.Sprintf("http://localhost:%d", p.Port)
				}
			}
			return "http://localhost:UNKNOWN-" + service
		},
		ReadFile: func(path string) ([]byte, error) { return os.ReadFile(filepath.Join(repo, path)) },
	}
}

func TestLessonsAreComplete(t *testing.T) {
	if err := learn.Validate(learn.Lessons); err != nil {
		t.Fatal(err)
	}
	if len(learn.Lessons) < 10 {
		t.Errorf("%d lessons; the path needs at least 10", len(learn.Lessons))
	}
	for _, l := range learn.Lessons {
		for _, a := range l.Actions {
			if a.HTTP() {
				if _, ok := fleet.Lookup(a.Service); !ok {
					t.Errorf("lesson %q: action %q goes to %q, which is not a service", l.ID, a.Label, a.Service)
				}
			}
			if a.Body != "" && !json.Valid([]byte(a.Body)) {
				t.Errorf("lesson %q: action %q has a body that is not JSON", l.ID, a.Label)
			}
			if strings.Contains(a.Body, "'") {
				t.Errorf("lesson %q: action %q's body has a quote that breaks its curl line", l.ID, a.Label)
			}
		}
		for _, c := range l.Checks {
			if c.Query == "" {
				continue
			}
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(c.Query); err != nil {
				t.Errorf("lesson %q: check %q: %v", l.ID, c.Description, err)
			}
		}
		if e := l.Exercise; e != nil {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(e.Reference); err != nil {
				t.Errorf("lesson %q: exercise reference: %v", l.ID, err)
			}
		}
	}
}

// TestValidateRejects shows the table's checks catch what they are for.
func TestValidateRejects(t *testing.T) {
	good := learn.Lessons[0]
	cases := map[string]func(l *learn.Lesson){
		"no checks":           func(l *learn.Lesson) { l.Checks = nil },
		"no question":         func(l *learn.Lesson) { l.Question = "" },
		"id with a slash":     func(l *learn.Lesson) { l.ID = "a/b" },
		"action of two kinds": func(l *learn.Lesson) { l.Actions = []learn.Action{{Label: "x", Command: "ls", Link: "/"}} },
		"check of two kinds": func(l *learn.Lesson) {
			l.Checks = []learn.Check{{Description: "x", Query: "up", API: "/api/v1/targets"}}
		},
		"command as a button": func(l *learn.Lesson) {
			l.Actions = []learn.Action{{Label: "x", Command: "ls", Console: true}}
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			l := good
			l.Actions = append([]learn.Action(nil), good.Actions...)
			l.Checks = append([]learn.Check(nil), good.Checks...)
			breakIt(&l)
			if err := learn.Validate([]learn.Lesson{l}); err == nil {
				t.Error("accepted")
			}
		})
	}
	if err := learn.Validate([]learn.Lesson{good, good}); err == nil {
		t.Error("duplicate ids accepted")
	}
}

// TestTutorialIsGenerated fails when docs/tutorial.md is not what the
// lessons render to: edit internal/learn/lessons.go, then run
// `go test ./internal/learn -update` (make generate does).
func TestTutorialIsGenerated(t *testing.T) {
	got, err := learn.Markdown(learn.Lessons, site())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repo, "docs", "tutorial.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/learn -update)", err)
	}
	if string(got) != string(want) {
		t.Error("docs/tutorial.md is out of date: run go test ./internal/learn -update")
	}
	if strings.Contains(string(got), "UNKNOWN-") {
		t.Error("the tutorial names a service without a port")
	}
}
