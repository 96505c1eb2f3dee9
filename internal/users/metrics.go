package users

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Bucket layouts in seconds. bcrypt at cost 10–14 takes ~50 ms to ~1 s on
// current hardware, so the hashing buckets are dense there; every layout
// has a boundary at 2 s, the slow-request alert threshold.
var (
	passwordBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 5}
	updateBuckets   = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
	dbQueryBuckets  = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
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

var (
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
	DBQueryDuration    metric.Float64Histogram // user_db_query_duration_seconds{query_type}
	DBConnectionErrors metric.Int64Counter     // user_db_connection_errors_total
	AuthFailures       metric.Int64Counter     // user_auth_failures_total{reason}
	AuthSuccess        metric.Int64Counter     // user_auth_success_total
	Errors             metric.Int64Counter     // user_errors_total{error_type,endpoint}

	// The population gauges read the store at collection time.
	totalUsers  metric.Int64ObservableGauge // total_users_count
	activeUsers metric.Int64ObservableGauge // active_users_count
	adminUsers  metric.Int64ObservableGauge // admin_users_count

	registration map[string]metric.AddOption
	authFailure  map[string]metric.AddOption
	loginOK      metric.AddOption
	loginFailed  metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{
		registration: map[string]metric.AddOption{},
		authFailure:  map[string]metric.AddOption{},
		loginOK:      metric.WithAttributeSet(attribute.NewSet(attribute.String("success", "true"))),
		loginFailed:  metric.WithAttributeSet(attribute.NewSet(attribute.String("success", "false"))),
	}
	for _, s := range registrationStatuses {
		m.registration[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", s)))
	}
	for _, r := range authFailureReasons {
		m.authFailure[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m.Registrations, err = meter.Int64Counter("user.registrations", metric.WithUnit("{registration}"),
		metric.WithDescription("User registration attempts by outcome: success, invalid, duplicate or failed."))
	add(err)
	m.Logins, err = meter.Int64Counter("user.logins", metric.WithUnit("{login}"),
		metric.WithDescription("Login attempts by outcome (success true or false)."))
	add(err)
	m.PasswordHashing, err = meter.Float64Histogram("password.hashing.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to hash a new password with bcrypt."),
		metric.WithExplicitBucketBoundaries(passwordBuckets...))
	add(err)
	m.PasswordValidation, err = meter.Float64Histogram("password.validation.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to verify a password against its bcrypt hash (including the dummy comparison for unknown users)."),
		metric.WithExplicitBucketBoundaries(passwordBuckets...))
	add(err)
	m.UpdateDuration, err = meter.Float64Histogram("user.update.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to update a user profile: checks, any password hashing, and the store write."),
		metric.WithExplicitBucketBoundaries(updateBuckets...))
	add(err)
	m.DBQueryDuration, err = meter.Float64Histogram("user.db.query.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of one SQL statement of the user service, by query type."),
		metric.WithExplicitBucketBoundaries(dbQueryBuckets...))
	add(err)
	m.DBConnectionErrors, err = meter.Int64Counter("user.db.connection.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failures to reach the user database."))
	add(err)
	m.AuthFailures, err = meter.Int64Counter("user.auth.failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Authentication failures by reason: bad credentials at login or an unusable bearer token."))
	add(err)
	m.AuthSuccess, err = meter.Int64Counter("user.auth.success", metric.WithUnit("{success}"),
		metric.WithDescription("Successful authentications: logins and accepted bearer tokens."))
	add(err)
	m.Errors, err = meter.Int64Counter("user.errors", metric.WithUnit("{error}"),
		metric.WithDescription("User service error responses by type and route template."))
	add(err)
	m.totalUsers, err = meter.Int64ObservableGauge("total.users.count", metric.WithUnit("{user}"),
		metric.WithDescription("Registered users, read from the store at collection time."))
	add(err)
	m.activeUsers, err = meter.Int64ObservableGauge("active.users.count", metric.WithUnit("{user}"),
		metric.WithDescription("Users whose account is active, read from the store at collection time."))
	add(err)
	m.adminUsers, err = meter.Int64ObservableGauge("admin.users.count", metric.WithUnit("{user}"),
		metric.WithDescription("Users with the admin role, read from the store at collection time."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Closed-set counters start at zero, so ratios and rate() work from the
	// first scrape.
	ctx := context.Background()
	for _, o := range m.registration {
		m.Registrations.Add(ctx, 0, o)
	}
	for _, o := range m.authFailure {
		m.AuthFailures.Add(ctx, 0, o)
	}
	m.Logins.Add(ctx, 0, m.loginOK)
	m.Logins.Add(ctx, 0, m.loginFailed)
	m.AuthSuccess.Add(ctx, 0)
	m.DBConnectionErrors.Add(ctx, 0)
	m.errors = httpkit.NewErrorCounter(m.Errors)
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
