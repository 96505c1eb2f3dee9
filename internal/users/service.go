// Package users is the user service (port 8001): registration, login with
// bcrypt-hashed passwords, Ed25519-signed access tokens and their public
// JWK Set, own-profile reads and updates, and user administration (list,
// roles, active flag) for admins, with the metrics of reference 002 §3.1.
package users

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// bcrypt work factors. Each step doubles the time to hash and to verify.
const (
	DefaultBcryptCost = 12
	MinBcryptCost     = 10
)

// Options build a Service. Store, Metrics and Signer are required.
type Options struct {
	Store   cloudcart.UserStore
	Metrics *Metrics
	Signer  *token.Signer
	Meter   metric.Meter // for the population gauges; none if nil
	Tracer  trace.Tracer
	Logger  *slog.Logger
	// user.registered is written by the Store, in the transaction that
	// stores the user (a transactional outbox): the bus's publisher owns
	// user_events_published_total and user_event_publish_duration_seconds
	// (reference 002 §3.1's user_kafka_*).
	Now func() time.Time
	// BcryptCost is the work factor of new hashes: DefaultBcryptCost if 0,
	// never below MinBcryptCost.
	BcryptCost int
	// MaxConcurrentHashes bounds the bcrypt hashes and comparisons running
	// at once (half the CPUs, at least 1, if 0): a flood of logins then
	// takes those cores at most and leaves the others to every other
	// request. Up to
	// MaxHashQueue more (8 × MaxConcurrentHashes if 0) wait up to HashWait
	// (5 s if 0) for a slot; beyond that they are refused at once, 503
	// with Retry-After, counted in user_password_work_rejected_total.
	MaxConcurrentHashes, MaxHashQueue int
	HashWait                          time.Duration

	weakHashing bool // tests only, through export_test.go
}

// Service implements the user operations.
type Service struct {
	store     cloudcart.UserStore
	m         *Metrics
	signer    *token.Signer
	verifier  *token.Verifier
	tracer    trace.Tracer
	log       *slog.Logger
	now       func() time.Time
	cost      int
	dummyHash []byte
	reg       metric.Registration

	hashSlots chan struct{}
	queued    atomic.Int64
	maxQueue  int64
	hashWait  time.Duration
}

// New builds the service. It hashes one random password first, so logins
// for unknown emails can cost the same as real ones. Close releases the
// gauge callback.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Metrics == nil || o.Signer == nil {
		return nil, errors.New("users: Store, Metrics and Signer are required")
	}
	s := &Service{store: o.Store, m: o.Metrics, signer: o.Signer, tracer: o.Tracer, log: o.Logger,
		now: o.Now, cost: o.BcryptCost, hashWait: cmp.Or(o.HashWait, 5*time.Second)}
	slots := cmp.Or(o.MaxConcurrentHashes, max(runtime.NumCPU()/2, 1))
	s.hashSlots = make(chan struct{}, slots)
	s.maxQueue = int64(cmp.Or(o.MaxHashQueue, 8*slots))
	if s.cost == 0 {
		s.cost = DefaultBcryptCost
	}
	if (s.cost < MinBcryptCost && !o.weakHashing) || s.cost < bcrypt.MinCost || s.cost > bcrypt.MaxCost {
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "bcrypt cost must be between %d and %d, got %d", MinBcryptCost, bcrypt.MaxCost, s.cost)
	}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	s.verifier, err = token.NewVerifier(token.StaticKeys{o.Signer.KeyID(): o.Signer.PublicKey()},
		token.VerifierOptions{Issuer: o.Signer.Issuer(), Audience: o.Signer.Audience(), Now: s.now})
	if err != nil {
		return nil, err
	}
	var random [18]byte
	_, _ = rand.Read(random[:])
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(random[:])), s.cost); err != nil {
		return nil, err
	}
	if o.Meter != nil {
		s.reg, err = o.Meter.RegisterCallback(s.observePopulation, s.m.totalUsers, s.m.activeUsers, s.m.adminUsers)
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close unregisters the population gauges.
func (s *Service) Close() error {
	if s.reg == nil {
		return nil
	}
	return s.reg.Unregister()
}

// observePopulation reads the gauges from the store, so they are right
// after a restart and across replicas sharing a database. The query is not
// traced: a scrape is not a request anyone wants a trace of.
func (s *Service) observePopulation(ctx context.Context, o metric.Observer) error {
	ctx, cancel := context.WithTimeout(untraced(ctx), 2*time.Second)
	defer cancel()
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return err // no observation: a gap, not a false zero
	}
	o.ObserveInt64(s.m.totalUsers, int64(n.Total))
	o.ObserveInt64(s.m.activeUsers, int64(n.Active))
	o.ObserveInt64(s.m.adminUsers, int64(n.Admins))
	return nil
}

// untraced returns ctx under an unsampled parent span, so the parent-based
// sampler records no spans below it.
func untraced(ctx context.Context) context.Context {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
}

// KeySet is the public JWK Set of the signing key.
func (s *Service) KeySet() token.KeySet { return s.signer.KeySet() }

// Register creates an active user with the user role.
func (s *Service) Register(ctx context.Context, email, name, password string) (u *cloudcart.User, err error) {
	ctx, span := s.tracer.Start(ctx, "user.register")
	defer func() { endSpan(span, err) }()
	email = cloudcart.NormalizeEmail(email)
	if err := errors.Join(cloudcart.ValidateEmail(email), cloudcart.ValidateName(name), cloudcart.ValidatePassword(password)); err != nil {
		s.m.registered(ctx, regInvalid)
		return nil, firstDomainError(err)
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		s.m.registered(ctx, regFailed)
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // the store keeps microseconds
	u = &cloudcart.User{ID: cloudcart.NewID("usr", now), Email: email, Name: name, Role: cloudcart.RoleUser, Active: true,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if cloudcart.ErrorCode(err) == cloudcart.ECONFLICT {
			s.m.registered(ctx, regDuplicate)
			// Tell the owner, not the caller (see the handler).
			if nerr := s.store.RegistrationAttempted(ctx, email); nerr != nil {
				s.log.WarnContext(ctx, "recording a registration attempt for an existing account failed", "err", nerr)
			}
		} else {
			s.m.registered(ctx, regFailed)
		}
		return nil, err
	}
	s.m.registered(ctx, regSuccess)
	return u, nil
}

// EnsureAdmin creates an admin with the given credentials unless a user
// with the email exists. An existing user is never promoted or changed:
// whoever registered the address first must not become admin by it.
func (s *Service) EnsureAdmin(ctx context.Context, email, name, password string) (*cloudcart.User, error) {
	email = cloudcart.NormalizeEmail(email)
	if u, err := s.store.FindUserByEmail(ctx, email); err == nil {
		if u.Role != cloudcart.RoleAdmin {
			return nil, cloudcart.Errorf(cloudcart.ECONFLICT, "%s is registered as a non-admin user; not promoting it", email)
		}
		return u, nil
	} else if cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
		return nil, err
	}
	if err := errors.Join(cloudcart.ValidateEmail(email), cloudcart.ValidateName(name), cloudcart.ValidatePassword(password)); err != nil {
		return nil, firstDomainError(err)
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // the store keeps microseconds
	u := &cloudcart.User{ID: cloudcart.NewID("usr", now), Email: email, Name: name, Role: cloudcart.RoleAdmin, Active: true,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// Session is a successful login.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      *cloudcart.User
}

var errBadCredentials = cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "invalid email or password")

// Login checks the credentials and issues a token. An unknown email and a
// wrong password get the same error after the same work (one bcrypt
// comparison), so neither the answer nor its timing tells which it was.
func (s *Service) Login(ctx context.Context, email, password string) (sess *Session, err error) {
	ctx, span := s.tracer.Start(ctx, "user.login")
	defer func() { endSpan(span, err) }()
	defer func() { s.m.login(ctx, err == nil) }()
	email = cloudcart.NormalizeEmail(email)
	if email == "" || password == "" {
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "email and password are required")
	}
	if len(password) > cloudcart.MaxPasswordBytes {
		// No stored password is this long: registration refuses them.
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "password must be at most %d bytes (bcrypt's limit), got %d", cloudcart.MaxPasswordBytes, len(password))
	}
	u, err := s.store.FindUserByEmail(ctx, email)
	switch {
	case cloudcart.ErrorCode(err) == cloudcart.ENOTFOUND:
		if err := s.compare(ctx, s.dummyHash, password); isBusy(err) || ctx.Err() != nil {
			return nil, cmp.Or(ctx.Err(), err) // the same answer an existing user gets
		}
		s.m.authFailed(ctx, reasonUnknownUser)
		return nil, errBadCredentials
	case err != nil:
		return nil, err
	}
	if err := s.compare(ctx, []byte(u.PasswordHash), password); err != nil {
		if isBusy(err) || ctx.Err() != nil {
			return nil, cmp.Or(ctx.Err(), err)
		}
		s.m.authFailed(ctx, reasonBadPassword)
		return nil, errBadCredentials
	}
	if !u.Active {
		s.m.authFailed(ctx, reasonInactiveUser)
		return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "this account is deactivated")
	}
	tok, exp, err := s.signer.Issue(u.ID, u.Role)
	if err != nil {
		return nil, err
	}
	s.m.AuthSuccess.Add(ctx, 1)
	return &Session{Token: tok, ExpiresAt: exp, User: u}, nil
}

// Authenticate resolves an Authorization header value to an active user.
// The token is verified here, not trusted from the gateway's headers, so
// the service is safe to call directly.
func (s *Service) Authenticate(ctx context.Context, authorization string) (*cloudcart.User, error) {
	raw, err := token.FromHeader(authorization)
	var id token.Identity
	if err == nil {
		id, err = s.verifier.Verify(ctx, raw)
	}
	if err != nil {
		switch token.ReasonOf(err) {
		case token.Missing:
			s.m.authFailed(ctx, reasonMissingToken)
		case token.Expired:
			s.m.authFailed(ctx, reasonExpiredToken)
		case token.KeysUnavailable:
			s.m.authFailed(ctx, reasonKeysUnusable)
		default:
			s.m.authFailed(ctx, reasonInvalidToken)
		}
		return nil, token.AsDomainError(err)
	}
	u, err := s.store.FindUserByID(ctx, id.UserID)
	if cloudcart.ErrorCode(err) == cloudcart.ENOTFOUND {
		s.m.authFailed(ctx, reasonUnknownUserID)
		return nil, cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "the token's user no longer exists")
	} else if err != nil {
		return nil, err
	}
	if !u.Active {
		s.m.authFailed(ctx, reasonInactiveUser)
		return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "this account is deactivated")
	}
	s.m.AuthSuccess.Add(ctx, 1)
	return u, nil
}

// ProfileUpdate is a user's change to their own profile. Nil fields are
// left alone. Changing email or password needs the current password.
type ProfileUpdate struct {
	Name            *string `json:"name"`
	Email           *string `json:"email"`
	Password        *string `json:"password"`
	CurrentPassword string  `json:"current_password"`
}

// UpdateProfile applies p to u, the authenticated caller.
func (s *Service) UpdateProfile(ctx context.Context, u *cloudcart.User, p ProfileUpdate) (_ *cloudcart.User, err error) {
	ctx, span := s.tracer.Start(ctx, "user.update")
	defer func() { endSpan(span, err) }()
	defer s.timeUpdate(ctx)()
	next := *u
	if p.Name != nil {
		if err := cloudcart.ValidateName(*p.Name); err != nil {
			return nil, err
		}
		next.Name = *p.Name
	}
	if p.Email != nil {
		next.Email = cloudcart.NormalizeEmail(*p.Email)
		if err := cloudcart.ValidateEmail(next.Email); err != nil {
			return nil, err
		}
	}
	if p.Password != nil {
		if err := cloudcart.ValidatePassword(*p.Password); err != nil {
			return nil, err
		}
	}
	if (p.Email != nil && next.Email != u.Email) || p.Password != nil {
		if p.CurrentPassword == "" {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "current_password is required to change email or password")
		}
		if len(p.CurrentPassword) > cloudcart.MaxPasswordBytes {
			return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "current_password is incorrect")
		}
		if err := s.compare(ctx, []byte(u.PasswordHash), p.CurrentPassword); err != nil {
			if isBusy(err) || ctx.Err() != nil {
				return nil, cmp.Or(ctx.Err(), err)
			}
			return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "current_password is incorrect")
		}
	}
	if p.Password != nil {
		if next.PasswordHash, err = s.hash(ctx, *p.Password); err != nil {
			return nil, err
		}
	}
	return s.save(ctx, &next)
}

// AdminUpdate is an admin's change to any user. Nil fields are left alone.
type AdminUpdate struct {
	Name   *string         `json:"name"`
	Role   *cloudcart.Role `json:"role"`
	Active *bool           `json:"active"`
}

// UpdateUser applies an admin's change to the user with id.
func (s *Service) UpdateUser(ctx context.Context, caller *cloudcart.User, id string, a AdminUpdate) (_ *cloudcart.User, err error) {
	if caller.Role != cloudcart.RoleAdmin {
		return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "only admins may change other users")
	}
	ctx, span := s.tracer.Start(ctx, "user.update")
	defer func() { endSpan(span, err) }()
	defer s.timeUpdate(ctx)()
	u, err := s.store.FindUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	next := *u
	if a.Name != nil {
		if err := cloudcart.ValidateName(*a.Name); err != nil {
			return nil, err
		}
		next.Name = *a.Name
	}
	if a.Role != nil {
		if !a.Role.Valid() {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "role must be user or admin, got %q", truncate(string(*a.Role)))
		}
		next.Role = *a.Role
	}
	if a.Active != nil {
		next.Active = *a.Active
	}
	if u.ID == caller.ID && (next.Role != cloudcart.RoleAdmin || !next.Active) {
		return nil, cloudcart.Errorf(cloudcart.ECONFLICT, "admins cannot demote or deactivate themselves; ask another admin")
	}
	return s.save(ctx, &next)
}

func (s *Service) save(ctx context.Context, u *cloudcart.User) (*cloudcart.User, error) {
	u.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// timeUpdate starts the update clock; call the result when done.
func (s *Service) timeUpdate(ctx context.Context) func() {
	start := time.Now()
	return func() { s.m.UpdateDuration.Record(ctx, time.Since(start).Seconds()) }
}

// GetUser returns a user to an admin, or to that user.
func (s *Service) GetUser(ctx context.Context, caller *cloudcart.User, id string) (*cloudcart.User, error) {
	if caller.Role != cloudcart.RoleAdmin && caller.ID != id {
		return nil, cloudcart.Errorf(cloudcart.EFORBIDDEN, "only admins may read other users")
	}
	return s.store.FindUserByID(ctx, id)
}

// ListUsers returns a page of users to an admin.
func (s *Service) ListUsers(ctx context.Context, caller *cloudcart.User, f cloudcart.UserFilter) ([]*cloudcart.User, int, error) {
	if caller.Role != cloudcart.RoleAdmin {
		return nil, 0, cloudcart.Errorf(cloudcart.EFORBIDDEN, "only admins may list users")
	}
	return s.store.FindUsers(ctx, f)
}

// errHashBusy is the answer when no hashing slot frees in time: not the
// caller's fault, retried after RetryAfter.
type errHashBusy struct{}

func (errHashBusy) Error() string             { return "every password hashing slot is busy" }
func (errHashBusy) RetryAfter() time.Duration { return time.Second }

func busy() error {
	return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Err: errHashBusy{},
		Message: "the user service is busy checking passwords; retry shortly"}
}

func isBusy(err error) bool { return errors.As(err, new(errHashBusy)) }

// slot takes one of the MaxConcurrentHashes slots for a bcrypt run,
// waiting in a bounded queue for at most HashWait; release gives it back.
func (s *Service) slot(ctx context.Context) (release func(), err error) {
	release = func() { <-s.hashSlots }
	select {
	case s.hashSlots <- struct{}{}:
		return release, nil
	default:
	}
	if s.queued.Add(1) > s.maxQueue {
		s.queued.Add(-1)
		s.m.PasswordRejected.Add(ctx, 1, s.m.reject[rejectQueueFull])
		return nil, busy()
	}
	defer s.queued.Add(-1)
	t := time.NewTimer(s.hashWait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
		return release, nil
	case <-t.C:
		s.m.PasswordRejected.Add(ctx, 1, s.m.reject[rejectWaitTimeout])
		return nil, busy()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) hash(ctx context.Context, password string) (string, error) {
	release, err := s.slot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	_, span := s.tracer.Start(ctx, "password.hash")
	defer span.End()
	start := time.Now()
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	s.m.PasswordHashing.Record(ctx, time.Since(start).Seconds())
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// compare is bcrypt's constant-time comparison, timed.
// A refused slot is a busy error (isBusy), not a mismatch.
func (s *Service) compare(ctx context.Context, hash []byte, password string) error {
	release, err := s.slot(ctx)
	if err != nil {
		return err
	}
	defer release()
	_, span := s.tracer.Start(ctx, "password.verify")
	defer span.End()
	start := time.Now()
	err = bcrypt.CompareHashAndPassword(hash, []byte(password))
	s.m.PasswordValidation.Record(ctx, time.Since(start).Seconds())
	return err
}

// firstDomainError returns the first error of a join, so the caller reads
// one clear message.
func firstDomainError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}

func endSpan(span trace.Span, err error) {
	if err != nil && cloudcart.ErrorCode(err) == cloudcart.EINTERNAL {
		span.RecordError(err)
		span.SetStatus(codes.Error, "internal error")
	}
	span.End()
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
