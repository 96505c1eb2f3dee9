package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

var userMigrations = []Migration{
	{Version: 1, SQL: `CREATE TABLE users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL,
		name TEXT NOT NULL,
		role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
		active BOOLEAN NOT NULL,
		password_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL);
	CREATE UNIQUE INDEX users_email_idx ON users (email);
	CREATE INDEX users_created_idx ON users (created_at, id)`},
}

// UserStore implements cloudcart.UserStore.
type UserStore struct {
	db *DB
	// Events, when set before the store is used, receives user.registered
	// in the transaction that creates the user. Nil writes no events.
	Events *Outbox
}

var _ cloudcart.UserStore = (*UserStore)(nil)

// NewUserStore migrates the user table and returns the store.
func NewUserStore(ctx context.Context, db *DB) (*UserStore, error) {
	if err := db.Migrate(ctx, "users", userMigrations); err != nil {
		return nil, err
	}
	return &UserStore{db: db}, nil
}

// CreateUser stores a new user; a taken email is ECONFLICT.
func (s *UserStore) CreateUser(ctx context.Context, u *cloudcart.User) error {
	err := s.db.Tx(ctx, func(c Conn) error {
		if _, err := c.Exec(ctx, `INSERT INTO users (id, email, name, role, active, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			u.ID, u.Email, u.Name, string(u.Role), u.Active, u.PasswordHash, u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro()); err != nil {
			return err
		}
		if s.Events == nil {
			return nil
		}
		_, err := s.Events.Add(ctx, c, cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{
			UserID: u.ID, Email: u.Email, Role: string(u.Role)})
		return err
	})
	if err == nil && s.Events != nil {
		s.Events.Notify()
	}
	if err != nil && isUniqueViolation(err) {
		return cloudcart.Errorf(cloudcart.ECONFLICT, "a user with email %s already exists", u.Email)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// RegistrationAttempted implements cloudcart.UserStore: it writes a
// user.registration_attempted event for the account with email through
// the outbox, in one transaction with its lookup. Without an outbox it
// does nothing.
func (s *UserStore) RegistrationAttempted(ctx context.Context, email string) error {
	if s.Events == nil {
		return nil
	}
	err := s.db.Tx(ctx, func(c Conn) error {
		var id string
		if err := c.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, []any{email}, &id); err != nil {
			return err
		}
		_, err := s.Events.Add(ctx, c, cloudcart.EventUserRegistrationAttempted, cloudcart.UserRegistrationAttemptedData{UserID: id, Email: email})
		return err
	})
	if err != nil {
		return fmt.Errorf("registration attempt: %w", err)
	}
	s.Events.Notify()
	return nil
}

const userColumns = `id, email, name, role, active, password_hash, created_at, updated_at`

// FindUserByID returns the user or an ENOTFOUND error.
func (s *UserStore) FindUserByID(ctx context.Context, id string) (*cloudcart.User, error) {
	return s.findOne(ctx, `id = $1`, id, "user %q not found")
}

// FindUserByEmail returns the user with the (normalized) address or an
// ENOTFOUND error.
func (s *UserStore) FindUserByEmail(ctx context.Context, email string) (*cloudcart.User, error) {
	return s.findOne(ctx, `email = $1`, email, "no user with email %q")
}

func (s *UserStore) findOne(ctx context.Context, cond string, arg any, notFound string) (*cloudcart.User, error) {
	rows, err := s.db.Conn().Query(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond, arg)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, notFound, arg)
	}
	return users[0], nil
}

// UpdateUser writes u's mutable fields; an unknown ID is ENOTFOUND and a
// taken email ECONFLICT.
func (s *UserStore) UpdateUser(ctx context.Context, u *cloudcart.User) error {
	res, err := s.db.Conn().Exec(ctx, `UPDATE users SET email = $1, name = $2, role = $3, active = $4, password_hash = $5, updated_at = $6
		WHERE id = $7`, u.Email, u.Name, string(u.Role), u.Active, u.PasswordHash, u.UpdatedAt.UnixMicro(), u.ID)
	if err != nil && isUniqueViolation(err) {
		return cloudcart.Errorf(cloudcart.ECONFLICT, "a user with email %s already exists", u.Email)
	}
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return cloudcart.Errorf(cloudcart.ENOTFOUND, "user %q not found", u.ID)
	}
	return nil
}

// FindUsers returns a page of matching users, oldest first, and the total.
func (s *UserStore) FindUsers(ctx context.Context, f cloudcart.UserFilter) ([]*cloudcart.User, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Role != "" {
		args = append(args, string(f.Role))
		where = append(where, fmt.Sprintf("role = $%d", len(args)))
	}
	if f.Active != nil {
		args = append(args, *f.Active)
		where = append(where, fmt.Sprintf("active = $%d", len(args)))
	}
	cond := strings.Join(where, " AND ")
	c := s.db.Conn()
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE `+cond, args, &total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	args = append(args, min(limit, MaxPageSize), max(f.Offset, 0))
	rows, err := c.Query(ctx, fmt.Sprintf(`SELECT %s FROM users WHERE %s ORDER BY created_at, id LIMIT $%d OFFSET $%d`,
		userColumns, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	users, err := scanUsers(rows)
	return users, total, err
}

// CountUsers counts the population in one statement.
func (s *UserStore) CountUsers(ctx context.Context) (cloudcart.UserCounts, error) {
	var n cloudcart.UserCounts
	err := s.db.Conn().QueryRow(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN active THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END), 0) FROM users`, nil, &n.Total, &n.Active, &n.Admins)
	if err != nil {
		return n, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func scanUsers(rows *sql.Rows) ([]*cloudcart.User, error) {
	defer rows.Close()
	var out []*cloudcart.User
	for rows.Next() {
		var (
			u        cloudcart.User
			role     string
			cr, upd  int64
			isActive bool
		)
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &role, &isActive, &u.PasswordHash, &cr, &upd); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		u.Role, u.Active = cloudcart.Role(role), isActive
		u.CreatedAt, u.UpdatedAt = time.UnixMicro(cr).UTC(), time.UnixMicro(upd).UTC()
		out = append(out, &u)
	}
	return out, rows.Err()
}
