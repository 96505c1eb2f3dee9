package fleet

import (
	"fmt"
	"log/slog"
	"os"
)

// prepareDataDir makes the data directory, or tightens an existing one, to
// mode 0700: it holds customers' emails and password hashes, the signing
// key and the chaos token, for this user only. Then it checks that the
// directory takes a file, so a read-only or foreign directory is one clear
// line at start rather than a storage or bus error later. (SQLite gives
// its -wal and -shm files the mode of the database file, which sqlstore
// creates 0600.)
func prepareDataDir(dir string, log *slog.Logger) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s cannot be created: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(name)
	if werr != nil || cerr != nil || rerr != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, firstErr(werr, cerr, rerr))
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			log.Warn("data dir is readable by others and cannot be made private", "dir", dir, "mode", st.Mode().Perm().String(), "err", err)
		} else {
			log.Info("data dir made private (0700)", "dir", dir, "was", st.Mode().Perm().String())
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
