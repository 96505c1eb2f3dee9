package cloudcart_test

import (
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

func TestValidateEmail(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"alice@example.com", true}, {"a.b+tag@sub.example.org", true},
		{"", false}, {"alice", false}, {"alice@localhost", false}, {"Alice <alice@example.com>", false},
		{"alice@example.com ", false}, {"@example.com", false}, {"alice@@example.com", false},
		{strings.Repeat("a", 250) + "@x.io", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			err := cloudcart.ValidateEmail(tc.in)
			if (err == nil) != tc.ok || (err != nil && cloudcart.ErrorCode(err) != cloudcart.EINVALID) {
				t.Fatalf("ValidateEmail(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
	if got := cloudcart.NormalizeEmail("  Alice@Example.COM "); got != "alice@example.com" {
		t.Fatalf("NormalizeEmail = %q", got)
	}
}

func TestValidatePasswordCountsBytes(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		mentions string // "" means valid
	}{
		{"8 bytes", "12345678", ""},
		{"72 bytes", strings.Repeat("x", 72), ""},
		{"73 bytes", strings.Repeat("x", 73), "at most 72 bytes (bcrypt's limit), got 73"},
		{"24 three-byte runes", strings.Repeat("€", 24), ""},
		{"25 three-byte runes", strings.Repeat("€", 25), "got 75"},
		{"7 bytes", "1234567", "at least 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cloudcart.ValidatePassword(tc.pw)
			if tc.mentions == "" && err != nil || tc.mentions != "" && !strings.Contains(cloudcart.ErrorMessage(err), tc.mentions) {
				t.Fatalf("ValidatePassword: %v, want mention of %q", err, tc.mentions)
			}
		})
	}
}

func TestValidateNameAndRole(t *testing.T) {
	for name, ok := range map[string]bool{"Alice": true, "": false, "   ": false, strings.Repeat("n", 129): false, "a\x00b": false, "Zoë": true} {
		if err := cloudcart.ValidateName(name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v", name, err)
		}
	}
	if !cloudcart.RoleUser.Valid() || !cloudcart.RoleAdmin.Valid() || cloudcart.Role("root").Valid() {
		t.Fatal("Role.Valid")
	}
}
