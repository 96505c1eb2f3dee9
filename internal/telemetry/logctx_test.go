package telemetry_test

import (
	"fmt"
	"go/ast"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// logMethods are the slog calls that take no context: inside a span their
// line carries no trace_id and span_id, and a warning is not recorded on
// the span (LogHandler reads both from the context).
var logMethods = []string{"Debug", "Info", "Warn", "Error", "Log", "LogAttrs"}

// TestLogCallsPassTheContext: wherever a context is at hand (a
// context.Context or an *http.Request in scope), CloudCart's code logs
// with it (InfoContext(ctx, …), not Info(…)), so a line written while
// handling a request or an event carries the span's trace_id and span_id
// (docs/traces.md). It type-checks every package under internal/ and
// cmd/ and reports each slog Debug/Info/Warn/Error call made with a
// context in scope. It also counts the calls that do pass one, so a scan
// that finds no slog call at all fails instead of passing.
func TestLogCallsPassTheContext(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the module's packages")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
		packages.NeedTypes | packages.NeedTypesInfo, Dir: root}
	pkgs, err := packages.Load(cfg, "./internal/...", "./cmd/...")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	withCtx := map[string]int{} // package → calls that pass a context
	for _, p := range pkgs {
		for _, e := range p.Errors {
			t.Errorf("%s: %v", p.PkgPath, e)
		}
		if p.TypesInfo == nil {
			continue
		}
		for _, f := range p.Syntax {
			spanCtxs := spanContexts(p.TypesInfo, f)
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				fn := calledSlogFunc(p.TypesInfo, call)
				if fn == "" {
					return true
				}
				pos := p.Fset.Position(call.Pos())
				file, _ := filepath.Rel(root, pos.Filename)
				latest := contextInScope(p.Types, call)
				if !strings.HasSuffix(fn, "Context") && fn != "Log" && fn != "LogAttrs" {
					if latest != nil {
						bad = append(bad, fmt.Sprintf("%s:%d: %s(…) with %s in scope: use %sContext(%s, …)", file, pos.Line, fn, ctxName(latest), fn, ctxName(latest)))
					}
					return true
				}
				withCtx[p.PkgPath]++
				// A span open for the rest of the function (sctx, span :=
				// tracer.Start(ctx, …); defer span.End()) is in the context
				// declared with it: a line logged with an older one misses it.
				sc := latestSpanContext(p.Types, spanCtxs, call)
				if id, ok := call.Args[0].(*ast.Ident); ok && sc != nil {
					if v, ok := p.TypesInfo.Uses[id].(*types.Var); ok && v.Pos() < sc.Pos() {
						bad = append(bad, fmt.Sprintf("%s:%d: %s(%s, …) inside the span of %s: log with %s", file, pos.Line, fn, id.Name, sc.Name(), sc.Name()))
					}
				}
				return true
			})
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
	// The scan reads real code: the services log with their context.
	for _, pkg := range []string{"orders", "notifier", "bus", "httpkit"} {
		if withCtx["github.com/cloudcart/cloudcart/internal/"+pkg] == 0 {
			t.Errorf("internal/%s: no slog call with a context found; is the scan reading the package? (found %v)", pkg, withCtx)
		}
	}
}

// calledSlogFunc names the slog function or *slog.Logger method call
// calls when it is one of logMethods or its Context variant, else "".
func calledSlogFunc(info *types.Info, call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	obj, ok := info.Uses[sel.Sel].(*types.Func)
	if !ok || obj.Pkg() == nil || obj.Pkg().Path() != "log/slog" {
		return ""
	}
	name := obj.Name()
	if !slices.Contains(logMethods, strings.TrimSuffix(name, "Context")) {
		return ""
	}
	if sig, ok := obj.Type().(*types.Signature); ok && sig.Recv() != nil {
		if ptr, ok := sig.Recv().Type().(*types.Pointer); !ok || ptr.Elem().(*types.Named).Obj().Name() != "Logger" {
			return ""
		}
	}
	return name
}

// contextInScope returns the context the code at call can reach that was
// declared last before it: a context.Context or *http.Request variable of
// an enclosing function; nil when there is none.
func contextInScope(pkg *types.Package, call *ast.CallExpr) *types.Var {
	var latest *types.Var
	for s := pkg.Scope().Innermost(call.Pos()); s != nil && s != pkg.Scope() && s != types.Universe; s = s.Parent() {
		for _, name := range s.Names() {
			v, ok := s.Lookup(name).(*types.Var)
			if !ok || v.Pos() > call.Pos() || name == "_" || (latest != nil && v.Pos() < latest.Pos()) {
				continue
			}
			if isNamed(v.Type(), "context", "Context") || isPointerTo(v.Type(), "net/http", "Request") {
				latest = v
			}
		}
	}
	return latest
}

// spanContexts are the contexts of f declared with a span that a defer
// ends: `ctx, span := tracer.Start(…)` … `defer span.End()`.
func spanContexts(info *types.Info, f *ast.File) map[*types.Var]bool {
	withSpan := map[*types.Var]*types.Var{} // span → its context
	ended := map[*types.Var]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			var ctx, span *types.Var
			for _, l := range n.Lhs {
				id, ok := l.(*ast.Ident)
				if !ok {
					continue
				}
				v, _ := info.ObjectOf(id).(*types.Var)
				switch {
				case v == nil:
				case isNamed(v.Type(), "context", "Context"):
					ctx = v
				case isNamed(v.Type(), "go.opentelemetry.io/otel/trace", "Span"):
					span = v
				}
			}
			if ctx != nil && span != nil {
				withSpan[span] = ctx
			}
		case *ast.DeferStmt:
			if sel, ok := n.Call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "End" {
				if id, ok := sel.X.(*ast.Ident); ok {
					if v, ok := info.Uses[id].(*types.Var); ok {
						ended[v] = true
					}
				}
			}
		}
		return true
	})
	out := map[*types.Var]bool{}
	for span, ctx := range withSpan {
		if ended[span] {
			out[ctx] = true
		}
	}
	return out
}

// latestSpanContext is the span context (spanContexts) declared last
// before call among those in its scope, nil when there is none.
func latestSpanContext(pkg *types.Package, spanCtxs map[*types.Var]bool, call *ast.CallExpr) *types.Var {
	var latest *types.Var
	for s := pkg.Scope().Innermost(call.Pos()); s != nil && s != pkg.Scope() && s != types.Universe; s = s.Parent() {
		for _, name := range s.Names() {
			v, ok := s.Lookup(name).(*types.Var)
			if ok && spanCtxs[v] && v.Pos() < call.Pos() && (latest == nil || v.Pos() > latest.Pos()) {
				latest = v
			}
		}
	}
	return latest
}

// ctxName is how code reaches the context of v.
func ctxName(v *types.Var) string {
	if isPointerTo(v.Type(), "net/http", "Request") {
		return v.Name() + ".Context()"
	}
	return v.Name()
}

func isNamed(t types.Type, pkg, name string) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkg && n.Obj().Name() == name
}

func isPointerTo(t types.Type, pkg, name string) bool {
	p, ok := t.(*types.Pointer)
	return ok && isNamed(p.Elem(), pkg, name)
}
