package authn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinServiceTokenLen is the shortest service credential accepted.
const MinServiceTokenLen = 32

// ServiceTokenFile is the file name of the generated service credential
// inside a data directory.
const ServiceTokenFile = "service.token"

// LoadServiceToken returns the service credential: given when set;
// otherwise the one stored at path; otherwise a new random one (32 bytes,
// hex), written to path with mode 0600, and created = true. Services of
// one `cloudcart run` share the data directory and so the file; separate
// processes (compose, Kubernetes) must be given the same secret.
func LoadServiceToken(given, path string) (tok string, created bool, err error) {
	if given != "" {
		if len(given) < MinServiceTokenLen {
			return "", false, fmt.Errorf("service token must be at least %d characters", MinServiceTokenLen)
		}
		return given, false, nil
	}
	tok, err = ReadServiceToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	tok = hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("service token: %w", err)
	}
	// Written whole to a temporary file, then linked into place: a
	// process starting at the same moment finds either no file or the
	// complete one, and the first link wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".service.token-*")
	if err != nil {
		return "", false, fmt.Errorf("service token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("service token: %w", err)
	}
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("service token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("service token: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		tok, err = ReadServiceToken(path) // another process won
		return tok, false, err
	} else if err != nil {
		return "", false, fmt.Errorf("service token: %w", err)
	}
	return tok, true, nil
}

// ReadServiceToken reads the credential LoadServiceToken stored at path,
// for clients of service-only endpoints (tests, `cloudcart scenario`).
func ReadServiceToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < MinServiceTokenLen {
		return "", fmt.Errorf("service token file %s holds no valid token; delete it to generate a new one", path)
	}
	return t, nil
}
