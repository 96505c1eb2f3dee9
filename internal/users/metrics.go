package users

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// Bucket layouts in seconds. bcrypt at cost 10–14 takes ~50 ms to ~1 s on
// current hardware, so the hashing buckets are dense there; every layout
// has a boundary at 2 s, the slow-request alert threshold.
var (
	passwordBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 5}
	updateBuckets   = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
)

// Label values, closed sets.
const (
	regSuccess   = "success"
	regInvalid   = "invalid"   // input failed validation
	regDuplicate = "duplicate" // the email is taken
	regFailed    = "failed"    // storage or another internal failure

	// Authentication failure reasons (user_auth_failures_total).
	reasonUnknownUser   = "unknown_user"
	reasonBadPassword   = "bad_password"
	reasonInactiveUser  = "inactive_user"
	reasonMissingToken  = "missing_token"
	reasonInvalidToken  = "invalid_token"
	reasonExpiredToken  = "expired_token"
	reasonKeysUnusable  = "keys_unavailable"
	reasonUnknownUserID = "unknown_subject" // a valid token for a user that no longer exists
)

// Reasons a password check or hash is refused before it runs
// (user_password_work_rejected_total): every hashing slot is taken and
// the queue is full, or a queued request waited HashWait in vain.
const (
	rejectQueueFull   = "queue_full"
	rejectWaitTimeout = "wait_timeout"
)

var (
	rejectReasons        = []string{rejectQueueFull, rejectWaitTimeout}
	registrationStatuses = []string{regSuccess, regInvalid, regDuplicate, regFailed}
	authFailureReasons   = []string{reasonUnknownUser, reasonBadPassword, reasonInactiveUser, reasonMissingToken,
		reasonInvalidToken, reasonExpiredToken, reasonKeysUnusable, reasonUnknownUserID}
)

// Metrics are the user service's instruments (reference 002 §3.1). The
// comments give the Prometheus names users query. The HTTP families
// (user_http_requests_total, user_request_duration_seconds,
// user_http_requests_in_flight) come from the httpkit middleware.
type Metrics struct {
	errors             *httpkit.ErrorCounter   // Errors, with precomputed attribute sets
	Registrations      metric.Int64Counter     // user_registrations_total{status}
	Logins             metric.Int64Counter     // user_logins_total{success}
	PasswordHashing    metric.Float64Histogram // password_hashing_duration_seconds
	PasswordValidation metric.Float64Histogram // password_validation_duration_seconds
	UpdateDuration     metric.Float64Histogram // user_update_duration_seconds
	AuthFailures       metric.Int64Counter     // user_auth_failures_total{reason}
	AuthSuccess        metric.Int64Counter     // user_auth_success_total
	Errors             metric.Int64Counter     // user_errors_total{error_type,endpoint}
	// PasswordRejected counts password work refused for overload:
	// user_password_work_rejected_total{reason}.
	PasswordRejected metric.Int64Counter

	// The population gauges read the store at collection time.
	totalUsers  metric.Int64ObservableGauge // total_users_count
	activeUsers metric.Int64ObservableGauge // active_users_count
	adminUsers  metric.Int64ObservableGauge // admin_users_count

	registration map[string]metric.AddOption
	authFailure  map[string]metric.AddOption
	reject       map[string]metric.AddOption
	loginOK      metric.AddOption
	loginFailed  metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{
		registration: map[string]metric.AddOption{},
		authFailure:  map[string]metric.AddOption{},
		reject:       map[string]metric.AddOption{},
		loginOK:      metric.WithAttributeSet(attribute.NewSet(attribute.String("success", "true"))),
		loginFailed:  metric.WithAttributeSet(attribute.NewSet(attribute.String("success", "false"))),
	}
	for _, s := range registrationStatuses {
		m.registration[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", s)))
	}
	for _, r := range authFailureReasons {
		m.authFailure[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	for _, r := range rejectReasons {
		m.reject[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	in := telemetry.NewInstruments(meter)
	m.Registrations = in.Counter("user.registrations", "{registration}", "User registration attempts by outcome: success, invalid, duplicate or failed.")
	m.Logins = in.Counter("user.logins", "{login}", "Login attempts by outcome (success true or false).")
	m.PasswordHashing = in.Histogram("password.hashing.duration", "s", "Time to hash a new password with bcrypt.", passwordBuckets)
	m.PasswordValidation = in.Histogram("password.validation.duration", "s", "Time to verify a password against its bcrypt hash (including the dummy comparison for unknown users).", passwordBuckets)
	m.UpdateDuration = in.Histogram("user.update.duration", "s", "Time to update a user profile: checks, any password hashing, and the store write.", updateBuckets)
	m.AuthFailures = in.Counter("user.auth.failures", "{failure}", "Authentication failures by reason: bad credentials at login or an unusable bearer token.")
	m.AuthSuccess = in.Counter("user.auth.success", "{success}", "Successful authentications: logins and accepted bearer tokens.")
	m.Errors = in.Counter("user.errors", "{error}", "User service error responses by type and route template.")
	m.PasswordRejected = in.Counter("user.password.work.rejected", "{request}", "Password checks and hashes refused (503 with Retry-After) because every hashing slot was busy: queue_full or wait_timeout.")
	m.totalUsers = in.IntGauge("total.users.count", "{user}", "Registered users, read from the store at collection time.")
	m.activeUsers = in.IntGauge("active.users.count", "{user}", "Users whose account is active, read from the store at collection time.")
	m.adminUsers = in.IntGauge("admin.users.count", "{user}", "Users with the admin role, read from the store at collection time.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	m.errors = httpkit.NewErrorCounter(m.Errors)
	m.primeZero()
	return m, nil
}

func (m *Metrics) registered(ctx context.Context, status string) {
	m.Registrations.Add(ctx, 1, m.registration[status])
}

func (m *Metrics) login(ctx context.Context, ok bool) {
	if ok {
		m.Logins.Add(ctx, 1, m.loginOK)
		return
	}
	m.Logins.Add(ctx, 1, m.loginFailed)
}

func (m *Metrics) authFailed(ctx context.Context, reason string) {
	m.AuthFailures.Add(ctx, 1, m.authFailure[reason])
}

// errorTypes is the closed set of user_errors_total's error_type, the
// values errorType returns.
var errorTypes = []string{"validation", "unauthorized", "forbidden", "not_found", "conflict", "unavailable", "internal"}

// primeZero starts every unlabelled or closed-set counter at zero, so
// ratios and rate() work from the first scrape. Per-route series start in
// primeRoute.
func (m *Metrics) primeZero() {
	ctx := context.Background()
	for _, o := range m.registration {
		m.Registrations.Add(ctx, 0, o)
	}
	for _, o := range m.authFailure {
		m.AuthFailures.Add(ctx, 0, o)
	}
	for _, o := range m.reject {
		m.PasswordRejected.Add(ctx, 0, o)
	}
	m.Logins.Add(ctx, 0, m.loginOK)
	m.Logins.Add(ctx, 0, m.loginFailed)
	m.AuthSuccess.Add(ctx, 0)
}

// primeRoute starts user_errors_total at zero for each error type of one
// route template: len(errorTypes) series per route.
func (m *Metrics) primeRoute(endpoint string) {
	for _, t := range errorTypes {
		m.errors.Zero(context.Background(), t, endpoint)
	}
}
