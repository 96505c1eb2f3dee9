package users

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateKey returns the Ed25519 signing key stored at path as a
// PKCS#8 PEM ("PRIVATE KEY") file. If the file does not exist and create is
// true, a new key is generated and written there with mode 0600 (created
// reports that); a key given by flag (create false) must exist.
//
// The new file appears atomically and only once: it is written to a
// temporary file and hard-linked into place, so a crash never leaves half a
// key, and two processes starting together agree on one key.
func LoadOrCreateKey(path string, create bool) (key ed25519.PrivateKey, created bool, err error) {
	key, err = readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return key, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("key dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".jwt-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600: the key is never readable by others.
	err = errors.Join(pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}), tmp.Sync(), tmp.Close())
	if err != nil {
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = readKey(path) // another process won the race
			return key, false, err
		}
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	return priv, true, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM \"PRIVATE KEY\" (PKCS#8) file", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is %T, want an Ed25519 private key", path, k)
	}
	return priv, nil
}
