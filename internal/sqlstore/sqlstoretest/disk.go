package sqlstoretest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// MustTmpfs mounts a tmpfs of size bytes (a real, small file system that
// fills up) on a new directory and unmounts it when the test ends. It
// needs the privilege to mount (root, as in the CI container); without it
// the test is skipped, and under CI=true it fails.
func MustTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "cannot mount a tmpfs (needs root): " + err.Error() + ": " + string(out)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system is full, and returns a
// function that deletes it.
func Fill(tb testing.TB, dir string) (free func()) {
	tb.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	// Top up the last bytes a 64 KiB write could not take.
	for err != nil && errors.Is(err, syscall.ENOSPC) && len(buf) > 1 {
		buf = buf[:len(buf)/2]
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		tb.Fatalf("filling %s: %v", dir, err)
	}
	_ = f.Close()
	return func() {
		if err := os.Remove(p); err != nil {
			tb.Errorf("free %s: %v", dir, err)
		}
	}
}

// MustReadOnlyDir mounts an empty read-only tmpfs (no one, root included,
// can write there) and unmounts it when the test ends; skipped without
// the privilege to mount, failed under CI=true.
func MustReadOnlyDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "readonly")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "cannot mount a tmpfs (needs root): " + err.Error() + ": " + string(out)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}
