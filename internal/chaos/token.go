package chaos

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// MinTokenLen is the shortest admin token accepted from a flag.
const MinTokenLen = 16

// LoadToken returns the admin API token: given when set; otherwise the one
// stored at path; otherwise a new random one, written to path (mode 0600)
// with created = true, so the caller can show it once.
func LoadToken(given, path string) (token string, created bool, err error) {
	if given != "" {
		if len(given) < MinTokenLen {
			return "", false, fmt.Errorf("chaos token must be at least %d characters", MinTokenLen)
		}
		return given, false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= MinTokenLen {
			return t, false, nil
		}
		return "", false, fmt.Errorf("chaos token file %s holds no valid token; delete it to generate a new one", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("chaos token: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	token = hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("chaos token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, err
	}
	return token, true, f.Close()
}

// ReadToken reads the admin token a fleet stored at path (LoadToken's
// file), for clients of the admin API such as `cloudcart scenario`.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("chaos token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < MinTokenLen {
		return "", fmt.Errorf("chaos token file %s holds no valid token", path)
	}
	return t, nil
}

// authorized reports whether r carries "Authorization: Bearer <token>".
// Hashing both sides first makes the comparison constant-time whatever
// the lengths.
func authorized(r *http.Request, want [32]byte) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(h[:], want[:]) == 1
}
