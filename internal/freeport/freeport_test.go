package freeport_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/cloudcart/cloudcart/internal/freeport"
)

// TestAddrsAreDistinctFreeAndOutsideTheEphemeralRange: the addresses are
// loopback, bindable, pairwise distinct and below the range the kernel
// draws port 0 from, so no listener on port 0 can take one.
func TestAddrsAreDistinctFreeAndOutsideTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := freeport.Addr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		host, p, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q", addr)
		}
		port, _ := strconv.Atoi(p)
		if port >= freeport.EphemeralStart() {
			t.Errorf("%s is in the ephemeral range (from %d)", addr, freeport.EphemeralStart())
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		ln.Close()
	}
}

// TestAnotherProcessCannotTakeAReservedPort runs this test binary again as
// a second process: it cannot lock a port this one holds, and can lock it
// once the reserving test has ended.
func TestAnotherProcessCannotTakeAReservedPort(t *testing.T) {
	if p := os.Getenv("FREEPORT_TRY"); p != "" {
		port, _ := strconv.Atoi(p)
		if freeport.TryLock(port) {
			os.Exit(3)
		}
		os.Exit(4)
	}
	try := func(port string) int {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAnotherProcessCannotTakeAReservedPort$")
		cmd.Env = append(os.Environ(), "FREEPORT_TRY="+port)
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("helper process: %v", err)
		return 0
	}
	var port string
	t.Run("reserve", func(t *testing.T) {
		_, port, _ = net.SplitHostPort(freeport.Addr(t))
		if code := try(port); code != 4 {
			t.Errorf("another process locked reserved port %s (exit %d)", port, code)
		}
	})
	if code := try(port); code != 3 {
		t.Errorf("port %s still locked after the reserving test ended (exit %d)", port, code)
	}
}
