package freeport

import "syscall"

// TryLock reports whether this process could lock port's byte of the
// shared file (and unlocks it again).
func TryLock(port int) bool {
	f, err := lockFile()
	if err != nil {
		return false
	}
	mu.Lock()
	defer mu.Unlock()
	if !setLock(f, port, syscall.F_WRLCK) {
		return false
	}
	setLock(f, port, syscall.F_UNLCK)
	return true
}

// EphemeralStart is the first port of the kernel's ephemeral range.
var EphemeralStart = high
