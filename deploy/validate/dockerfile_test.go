package validate_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
	Line int
}

// parseDockerfile splits a Dockerfile into instructions. It knows what
// deploy/Dockerfile uses: comments, blank lines and backslash
// continuations (no heredocs, no escape directive).
func parseDockerfile(b []byte) []instruction {
	var (
		out  []instruction
		cur  strings.Builder
		from int
	)
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			from = i + 1
		}
		cont := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: from})
		cur.Reset()
	}
	return out
}

// shellWords splits a shell command line into words: single and double
// quotes, no escapes inside single quotes, nothing else.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %s", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

var envAssign = regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(.*)$`)

// goBuild is the `go build` step of deploy/Dockerfile.
type goBuild struct {
	Env  map[string]string // assignments before the command, unexpanded
	Args []string          // after "go", unexpanded
}

func mustGoBuild(tb testing.TB, insts []instruction) goBuild {
	tb.Helper()
	var found []goBuild
	for _, in := range insts {
		if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
			continue
		}
		words, err := shellWords(in.Args)
		if err != nil {
			tb.Fatalf("Dockerfile line %d: %v", in.Line, err)
		}
		b := goBuild{Env: map[string]string{}}
		for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
			words = words[1:]
		}
		for len(words) > 0 {
			m := envAssign.FindStringSubmatch(words[0])
			if m == nil {
				break
			}
			b.Env[m[1]] = m[2]
			words = words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" || slices.ContainsFunc(words, func(w string) bool { return w == "&&" || w == ";" || w == "|" }) {
			tb.Fatalf("Dockerfile line %d: want one plain `[VAR=value ...] go build ...`, got %q", in.Line, in.Args)
		}
		b.Args = words[1:]
		found = append(found, b)
	}
	if len(found) != 1 {
		tb.Fatalf("Dockerfile: %d RUN instructions with `go build`, want 1", len(found))
	}
	return found[0]
}

// The values the test builds with; the Dockerfile's ARGs get them.
const testVersion = "v0.0.0-dockerfile-test"

func expandArgs(s string) string {
	return os.Expand(s, func(k string) string {
		switch k {
		case "VERSION":
			return testVersion
		case "TARGETOS":
			return "linux"
		case "TARGETARCH":
			return runtime.GOARCH
		}
		return "${" + k + "}"
	})
}

// The Dockerfile's go build line, checked without building the 1,100
// packages of the binary a second time (-trimpath and CGO_ENABLED=0 change
// every package's cache key, so that build would be a cold one):
//
//   - dockerfileGraph lists, in the build context the .dockerignore leaves
//     and with the line's environment, every package ./cmd/cloudcart needs:
//     all present, embedded files included, none needing cgo;
//   - buildLikeDockerfile runs the very line, flags and environment, on a
//     one-file main package beside cmd/cloudcart in that context, which
//     shows what the flags make of a pure-Go program: a static binary
//     carrying VERSION in main.Version.

// dockerfileCmd is the Dockerfile's go build line for package pkg, with
// the test's values for the ARGs and the output in out, to run in dir.
func dockerfileCmd(tb testing.TB, dir, pkg, out string, extra ...string) *exec.Cmd {
	tb.Helper()
	b := mustGoBuild(tb, parseDockerfile(mustRead(tb, "Dockerfile")))
	var args []string
	for i := 0; i < len(b.Args); i++ {
		a := expandArgs(b.Args[i])
		if strings.Contains(a, "${") {
			tb.Fatalf("Dockerfile go build: unknown variable in %q", b.Args[i])
		}
		if a == "-o" && i+1 < len(b.Args) {
			args = append(args, "-o", out)
			i++
			continue
		}
		args = append(args, a)
	}
	if last := args[len(args)-1]; last != "./cmd/cloudcart" {
		tb.Fatalf("Dockerfile go build builds %s, want ./cmd/cloudcart", last)
	}
	args = append(append(args[:len(args)-1], extra...), pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// The container's environment: no GOFLAGS, no toolchain download.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	for k, v := range b.Env {
		cmd.Env = append(cmd.Env, k+"="+expandArgs(v))
	}
	return cmd
}

var buildContext struct {
	once sync.Once
	dir  string
	err  error
}

// mustBuildContext copies, once, the files `docker build` sends.
func mustBuildContext(tb testing.TB) string {
	tb.Helper()
	buildContext.once.Do(func() {
		buildContext.dir = filepath.Join(tmpDir, "context")
		buildContext.err = copyContext(repo(), buildContext.dir)
	})
	if buildContext.err != nil {
		tb.Fatal(buildContext.err)
	}
	return buildContext.dir
}

// graphPackage is what dockerfileGraph reads of `go list -json`.
type graphPackage struct {
	ImportPath string
	Module     *struct{ Path string }
	CgoFiles   []string
	EmbedFiles []string
	Error      *struct{ Err string }
	DepsErrors []*struct{ Err string }
}

// dockerfileGraph lists ./cmd/cloudcart and its dependencies as the
// Dockerfile's go build line sees them in the build context: `go list`
// with the line's flags and environment, which resolves build
// constraints, cgo and embed patterns as the build would, without
// compiling.
func dockerfileGraph(tb testing.TB) []graphPackage {
	tb.Helper()
	dir := mustBuildContext(tb)
	cmd := dockerfileCmd(tb, dir, "./cmd/cloudcart", filepath.Join(tmpDir, "unused"), "-e", "-deps", "-json=ImportPath,Module,CgoFiles,EmbedFiles,Error,DepsErrors")
	cmd.Args[1] = "list"
	// go list takes the build flags but not -o.
	for i, a := range cmd.Args {
		if a == "-o" {
			cmd.Args = slices.Delete(cmd.Args, i, i+2)
			break
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	var pkgs []graphPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p graphPackage
		if err := dec.Decode(&p); err != nil {
			tb.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// buildLikeDockerfile runs the Dockerfile's go build line on a one-file
// main package declaring main.Version as cmd/cloudcart does, placed beside
// cmd/cloudcart in the build context, and returns the binary.
func buildLikeDockerfile(tb testing.TB) string {
	tb.Helper()
	dir := mustBuildContext(tb)
	src := "package main\n\nimport \"os\"\n\n// Version is set like cmd/cloudcart's.\nvar Version = \"\"\n\nfunc main() { os.Stdout.WriteString(Version + \"\\n\") }\n"
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "flagcheck"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "flagcheck", "main.go"), []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tmpDir, "flagcheck")
	cmd := dockerfileCmd(tb, dir, "./cmd/flagcheck", out)
	if o, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s (in the Dockerfile's build context): %v\n%s", strings.Join(cmd.Args, " "), err, o)
	}
	return out
}

// copyContext copies what `docker build` would send from root: every file
// the .dockerignore beside the Dockerfile keeps.
func copyContext(root, dst string) error {
	f, err := os.Open("Dockerfile.dockerignore")
	if err != nil {
		return err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// An excluded directory may hold re-included files
			// (!deploy/embed.go), so walk on unless nothing can match.
			if skip && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if skip || !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// The image's binary is static, carries its version and was built the
// documented way; CGO_ENABLED=0 builds at all only because every
// dependency is pure Go (SQLite: modernc.org/sqlite).
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	t.Run("graph is complete and pure Go", func(t *testing.T) {
		pkgs := dockerfileGraph(t)
		var sqlite, embeds bool
		for _, p := range pkgs {
			if p.Error != nil {
				t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
			}
			for _, e := range p.DepsErrors {
				t.Errorf("%s: %s", p.ImportPath, e.Err)
			}
			// With CGO_ENABLED=0 no cgo file is compiled: a package
			// that needed one would have failed above; runtime/cgo
			// would mean a dynamic binary.
			if p.ImportPath == "runtime/cgo" || len(p.CgoFiles) > 0 {
				t.Errorf("%s uses cgo with the Dockerfile's environment", p.ImportPath)
			}
			if p.Module != nil && p.Module.Path == "modernc.org/sqlite" {
				sqlite = true
			}
			if p.ImportPath == "github.com/cloudcart/cloudcart/deploy" && len(p.EmbedFiles) > 0 {
				embeds = true
			}
		}
		if len(pkgs) < 100 {
			t.Errorf("go list gave %d packages for ./cmd/cloudcart", len(pkgs))
		}
		// The SQLite driver is in it: pure Go, so CGO_ENABLED=0 loses nothing.
		if !sqlite {
			t.Error("the graph does not contain modernc.org/sqlite")
		}
		if !embeds {
			t.Error("package deploy embeds no file in the build context (deploy/prometheus/rules)")
		}
	})

	t.Run("cmd/cloudcart has main.Version", func(t *testing.T) {
		// -X main.Version=... sets nothing, silently, unless main
		// declares a string variable Version.
		files, err := filepath.Glob(repo("cmd", "cloudcart", "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, id := range vs.Names {
						if id.Name != "Version" {
							continue
						}
						typ, _ := vs.Type.(*ast.Ident)
						found = found || typ != nil && typ.Name == "string" ||
							vs.Type == nil && i < len(vs.Values) && isStringLit(vs.Values[i])
					}
				}
			}
		}
		if !found {
			t.Error("cmd/cloudcart has no package-level string variable Version for -X main.Version")
		}
	})

	t.Run("flags make a static binary with VERSION", func(t *testing.T) {
		bin := buildLikeDockerfile(t)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("not an ELF binary: %v", err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary has a PT_INTERP program header: it is dynamically linked")
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("binary imports shared libraries %v (%v)", libs, err)
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"} {
			if settings[k] != want {
				t.Errorf("build setting %s = %q, want %q", k, settings[k], want)
			}
		}
		// -trimpath keeps -ldflags out of the build info: look for the value.
		if !bytes.Contains(mustRead(t, bin), []byte(testVersion)) {
			t.Errorf("binary does not contain the VERSION build argument %q (-X main.Version)", testVersion)
		}
		if runtime.GOOS == "linux" {
			out, err := exec.Command(bin).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != testVersion {
				t.Errorf("main.Version = %q (%v), want %q", out, err, testVersion)
			}
		}
	})
}

func isStringLit(e ast.Expr) bool {
	l, ok := e.(*ast.BasicLit)
	return ok && l.Kind == token.STRING
}

var goDirective = regexp.MustCompile(`(?m)^go (\S+)$`)

func TestDockerfile(t *testing.T) {
	insts := parseDockerfile(mustRead(t, "Dockerfile"))
	var stages [][]instruction
	for _, in := range insts {
		if in.Cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("line %d: %s before FROM", in.Line, in.Cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}

	t.Run("pinned base images", func(t *testing.T) {
		for _, st := range stages {
			image := strings.Fields(st[0].Args)[0]
			if err := pinned(image); err != nil {
				t.Errorf("line %d: %v", st[0].Line, err)
			}
		}
	})

	t.Run("builder has go.mod's Go", func(t *testing.T) {
		m := goDirective.FindSubmatch(mustRead(t, repo("go.mod")))
		if m == nil {
			t.Fatal("go.mod has no go directive")
		}
		image := strings.Fields(stages[0][0].Args)[0]
		if want := "golang:" + string(m[1]) + "-"; !strings.HasPrefix(image, want) {
			t.Errorf("builder image %s, want %s* (go.mod says go %s)", image, want, m[1])
		}
	})

	t.Run("go build line", func(t *testing.T) {
		b := mustGoBuild(t, insts)
		if b.Env["CGO_ENABLED"] != "0" {
			t.Errorf("go build runs with CGO_ENABLED=%q, want 0", b.Env["CGO_ENABLED"])
		}
		if !slices.Contains(b.Args, "-trimpath") {
			t.Error("go build without -trimpath")
		}
		if b.Args[len(b.Args)-1] != "./cmd/cloudcart" {
			t.Errorf("go build builds %s, want ./cmd/cloudcart", b.Args[len(b.Args)-1])
		}
	})

	final := stages[len(stages)-1]
	last := func(cmd string) string {
		v := ""
		for _, in := range final {
			if in.Cmd == cmd {
				v = in.Args
			}
		}
		return v
	}
	t.Run("non-root", func(t *testing.T) {
		user, _, _ := strings.Cut(last("USER"), ":")
		if uid, err := strconv.Atoi(user); err != nil || uid == 0 {
			t.Errorf("USER %q: want a numeric non-root uid (Kubernetes runAsNonRoot checks it)", last("USER"))
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		if got := last("ENTRYPOINT"); got != `["/cloudcart"]` {
			t.Errorf("ENTRYPOINT %s, want [\"/cloudcart\"]", got)
		}
	})
	t.Run("exposes every port", func(t *testing.T) {
		var exposed []string
		for _, in := range final {
			if in.Cmd == "EXPOSE" {
				exposed = append(exposed, strings.Fields(in.Args)...)
			}
		}
		for _, p := range fleet.Planned {
			if !slices.Contains(exposed, strconv.Itoa(p.Port)) {
				t.Errorf("port %d of %s is not EXPOSEd", p.Port, p.Name)
			}
		}
	})
}

// pinned accepts an image reference with a tag other than latest, or a
// digest.
func pinned(image string) error {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("image %q: %v", image, err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return nil
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok || tagged.Tag() == "latest" {
		return fmt.Errorf("image %q is not pinned: give it a version tag (not latest) or a digest", image)
	}
	return nil
}

// The build context leaves out what the image does not need.
func TestDockerContext(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "context")
	if err := copyContext(repo(), dst); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/cloudcart/main.go", "deploy/embed.go", "deploy/prometheus/rules/orders.yml", "docs/docs.go", "docs/runbooks.md"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err != nil {
			t.Errorf("context lacks %s: %v", p, err)
		}
	}
	for _, p := range []string{".git", "data", "docs/metrics.md", "docs/images", "deploy/k8s", "deploy/Dockerfile", "cmd/cloudcart/main_test.go"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err == nil {
			t.Errorf("context holds %s", p)
		}
	}
}
