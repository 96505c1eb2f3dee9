package cloudcart

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a user may do. Every user has exactly one.
type Role string

const (
	RoleUser  Role = "user"  // manages their own profile and orders
	RoleAdmin Role = "admin" // also lists and manages users, drives chaos
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleUser || r == RoleAdmin }

// Limits on user input.
const (
	MinPasswordBytes = 8
	// MaxPasswordBytes is bcrypt's limit: it ignores every byte past the
	// 72nd, so a longer password would silently be a shorter one.
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
	maxNameBytes     = 128
)

// User is a registered account. PasswordHash never leaves the service.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Active       bool      `json:"active"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// NormalizeEmail trims and lower-cases an address, so one mailbox is one
// account however it is typed.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateEmail checks a normalized address: a bare addr-spec (no display
// name) of at most 254 bytes with a domain part.
func ValidateEmail(email string) error {
	if email == "" {
		return Errorf(EINVALID, "email is required")
	}
	if len(email) > maxEmailBytes {
		return Errorf(EINVALID, "email must be at most %d bytes", maxEmailBytes)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return Errorf(EINVALID, "email %q is not an address like name@example.com", truncate(email, 64))
	}
	return nil
}

// ValidateName checks a display name: 1–128 bytes of printable UTF-8.
func ValidateName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(EINVALID, "name is required")
	case len(name) > maxNameBytes:
		return Errorf(EINVALID, "name must be at most %d bytes", maxNameBytes)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Errorf(EINVALID, "name must be printable UTF-8 text")
	}
	return nil
}

// ValidatePassword checks a new password's length in bytes (bcrypt counts
// bytes, not characters).
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < MinPasswordBytes:
		return Errorf(EINVALID, "password must be at least %d bytes", MinPasswordBytes)
	case len(pw) > MaxPasswordBytes:
		return Errorf(EINVALID, "password must be at most %d bytes (bcrypt's limit), got %d", MaxPasswordBytes, len(pw))
	}
	return nil
}

// UserFilter selects users in FindUsers. Zero values mean "any".
type UserFilter struct {
	Role   Role
	Active *bool
	Offset int
	Limit  int // 0 means the store's default page size
}

// UserCounts is the user population, read by the population gauges.
type UserCounts struct {
	Total, Active, Admins int
}

// UserStore persists users. Email addresses are unique: CreateUser and
// UpdateUser return ECONFLICT when another user has the address.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	FindUserByID(ctx context.Context, id string) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// UpdateUser writes the mutable fields of u (email, name, role, active,
	// password hash, updated_at) to the stored user with u's ID.
	UpdateUser(ctx context.Context, u *User) error
	// FindUsers returns one page of users, oldest first, and the total
	// number of users matching the filter.
	FindUsers(ctx context.Context, f UserFilter) ([]*User, int, error)
	CountUsers(ctx context.Context) (UserCounts, error)
	// RegistrationAttempted records (as a user.registration_attempted
	// event for the account's owner) that someone registered the email of
	// an existing account.
	RegistrationAttempted(ctx context.Context, email string) error
}
