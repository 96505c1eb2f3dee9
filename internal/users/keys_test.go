package users_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/users"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "key.pem")
	if _, _, err := users.LoadOrCreateKey(path, false); err == nil {
		t.Fatal("a missing key given by flag was not an error")
	}
	key, created, err := users.LoadOrCreateKey(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	again, created, err := users.LoadOrCreateKey(path, true)
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("second start: created=%v same=%v err=%v", created, again.Equal(key), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left beside the key: %v", entries)
	}

	t.Run("concurrent first starts agree on one key", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "key.pem")
		var wg sync.WaitGroup
		keys := make(chan string, 8)
		for range 8 {
			wg.Go(func() {
				k, _, err := users.LoadOrCreateKey(p, true)
				if err != nil {
					t.Error(err)
				}
				keys <- string(k)
			})
		}
		wg.Wait()
		close(keys)
		first := <-keys
		for k := range keys {
			if k != first {
				t.Fatal("two processes got different keys")
			}
		}
	})
	t.Run("a file that is not an Ed25519 PKCS#8 key is refused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "bad.pem")
		_ = os.WriteFile(p, []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), 0o600)
		if _, _, err := users.LoadOrCreateKey(p, true); err == nil {
			t.Fatal("accepted")
		}
	})
}
