package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// TestReadOnlyDataDir: on a data dir that cannot be written (a read-only
// file system), `run` and `serve` exit at once with one line on stderr
// that names the directory, instead of failing later in the bus or the
// database. The exit takes milliseconds; the test gives it 10 s and logs
// the time (the bound is 2 s).
func TestReadOnlyDataDir(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		subdir string // "" = the read-only mount itself exists; "data" = must be created
	}{
		{[]string{"run", "--no-prometheus"}, ""}, {[]string{"run", "--no-prometheus"}, "data"},
		{[]string{"serve", "orders"}, ""}, {[]string{"serve", "users"}, "data"},
	} {
		args := tc.args
		t.Run(strings.Join(args, " ")+" "+tc.subdir, func(t *testing.T) {
			dir := filepath.Join(sqlstoretest.MustReadOnlyDir(t), tc.subdir)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append(args, "--data-dir", dir, "--bind", "127.0.0.1")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("still running after 10 s; stderr:\n%s", stderr.String())
			}
			if err == nil {
				t.Fatal("exited 0 on a read-only data dir")
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], dir) || !strings.Contains(lines[0], "data dir") {
				t.Fatalf("want one line naming %s, got:\n%s", dir, stderr.String())
			}
			t.Logf("exit after %v: %s", took.Round(time.Millisecond), lines[0])
		})
	}
}

// TestDataFilesArePrivate: after a start, the data dir is 0700 and the
// databases (with their -wal and -shm files), the signing key and the
// chaos token are 0600; a data dir left 0755 by an older version is
// narrowed.
func TestDataFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := mustStart(t, "run", "--data-dir", dir)
	p.stop(t)
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v, want 0700", st.Mode().Perm(), err)
	}
	var checked int
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := d.Name()
		secret := strings.HasSuffix(name, ".db") || strings.HasSuffix(name, ".db-wal") || strings.HasSuffix(name, ".db-shm") ||
			strings.HasSuffix(name, ".pem") || strings.HasSuffix(name, ".token")
		if secret {
			checked++
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", path, info.Mode().Perm())
			}
		}
		if d.IsDir() && filepath.Base(path) == "prometheus" && info.Mode().Perm() != 0o700 {
			t.Errorf("TSDB dir %s: mode %v, want 0700", path, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("only %d database/key/token files found under %s", checked, dir)
	}
}
