package users

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Handler returns the service's routes on a new mux. Wrap it with the
// httpkit middleware; /healthz, /readyz and /metrics come from the server.
// Through the gateway these are /api/auth/..., /api/users/... and
// /.well-known/jwks.json.
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	s.route(mux, "POST /auth/register", s.register)
	s.route(mux, "POST /auth/login", s.login)
	s.route(mux, "GET /users/me", s.authed(s.getMe))
	s.route(mux, "PATCH /users/me", s.authed(s.updateMe))
	s.route(mux, "GET /users", s.authed(s.listUsers), "role", "active", "limit", "offset")
	s.route(mux, "GET /users/{id}", s.authed(s.getUser))
	s.route(mux, "PATCH /users/{id}", s.authed(s.updateUser))
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	return mux
}

// route registers fn (handle) on mux at pattern and starts its
// user_errors_total series at zero: the route is typed once, in pattern.
func (s *Service) route(mux *http.ServeMux, pattern string, fn func(http.ResponseWriter, *http.Request) error, params ...string) {
	mux.HandleFunc(pattern, s.handle(fn, params...))
	s.m.primeRoute(httpkit.RouteLabel(pattern))
}

// handle turns a handler's error into the JSON error response and counts
// it in user_errors_total.
// Its errors are counted under the route template the mux matched, and
// params are the query parameters the route accepts (httpkit.CheckQuery).
func (s *Service) handle(fn func(http.ResponseWriter, *http.Request) error, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := httpkit.CheckQuery(r, params...)
		if err == nil {
			err = fn(w, r)
		}
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "request ended before the user service finished")
		}
		s.m.errors.Add(r.Context(), errorType(err), httpkit.RouteLabel(r.Pattern))
		if cloudcart.ErrorCode(err) == cloudcart.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cloudcart"`)
		}
		httpkit.Error(w, r, s.log, err)
	}
}

// errorType maps a domain error onto the closed set of error_type values.
func errorType(err error) string {
	switch cloudcart.ErrorCode(err) {
	case cloudcart.EINVALID, cloudcart.ETOOLARGE:
		return "validation"
	case cloudcart.EUNAUTHORIZED:
		return "unauthorized"
	case cloudcart.EFORBIDDEN:
		return "forbidden"
	case cloudcart.ENOTFOUND:
		return "not_found"
	case cloudcart.ECONFLICT:
		return "conflict"
	case cloudcart.EUNAVAILABLE:
		return "unavailable"
	}
	return "internal"
}

// authed runs fn for the user the request's bearer token names.
func (s *Service) authed(fn func(http.ResponseWriter, *http.Request, *cloudcart.User) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		return fn(w, r, u)
	}
}

type registerRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Service) register(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		s.m.registered(r.Context(), regInvalid)
		return err
	}
	_, err := s.Register(r.Context(), req.Email, req.Name, req.Password)
	if err != nil && cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
		return err
	}
	// A new and a taken email get the same answer after the same work
	// (one bcrypt hash, one write): the answer must not tell anyone which
	// addresses have accounts. The owner of a taken one hears of the
	// attempt through a user.registration_attempted notification.
	httpkit.WriteJSON(w, http.StatusAccepted, RegistrationAccepted)
	return nil
}

// RegistrationResponse is the body of every accepted registration.
type RegistrationResponse struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// RegistrationAccepted is the one answer to a valid registration, for a
// new email and a registered one alike.
var RegistrationAccepted = RegistrationResponse{Status: "accepted",
	Message: "If this email had no account, it has one now: log in with POST /api/auth/login. " +
		"If it had one, nothing changed and the account's owner is notified."}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginResponse is the body of a successful login (RFC 6749 §5.1 names).
type LoginResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   int             `json:"expires_in"` // seconds
	ExpiresAt   time.Time       `json:"expires_at"`
	User        *cloudcart.User `json:"user"`
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		s.m.login(r.Context(), false)
		return err
	}
	sess, err := s.Login(r.Context(), req.Email, req.Password)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusOK, LoginResponse{
		AccessToken: sess.Token, TokenType: "Bearer", ExpiresAt: sess.ExpiresAt,
		ExpiresIn: int(time.Until(sess.ExpiresAt).Round(time.Second).Seconds()), User: sess.User,
	})
	return nil
}

func (s *Service) getMe(w http.ResponseWriter, r *http.Request, u *cloudcart.User) error {
	httpkit.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Service) updateMe(w http.ResponseWriter, r *http.Request, u *cloudcart.User) error {
	var p ProfileUpdate
	if err := httpkit.DecodeJSON(r, &p); err != nil {
		return err
	}
	u, err := s.UpdateProfile(r.Context(), u, p)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Service) getUser(w http.ResponseWriter, r *http.Request, caller *cloudcart.User) error {
	id := r.PathValue("id")
	if len(id) > 64 {
		return cloudcart.Errorf(cloudcart.EINVALID, "user id must be at most 64 characters")
	}
	u, err := s.GetUser(r.Context(), caller, id)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Service) updateUser(w http.ResponseWriter, r *http.Request, caller *cloudcart.User) error {
	var a AdminUpdate
	if err := httpkit.DecodeJSON(r, &a); err != nil {
		return err
	}
	u, err := s.UpdateUser(r.Context(), caller, r.PathValue("id"), a)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, u)
	return nil
}

type userPage struct {
	Users  []*cloudcart.User `json:"users"`
	Total  int               `json:"total"`
	Limit  int               `json:"limit"`
	Offset int               `json:"offset"`
}

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request, caller *cloudcart.User) error {
	var f cloudcart.UserFilter
	role, err := httpkit.EnumParam(r, "role", "", string(cloudcart.RoleUser), string(cloudcart.RoleAdmin))
	if err != nil {
		return err
	}
	f.Role = cloudcart.Role(role)
	active, err := httpkit.EnumParam(r, "active", "", "true", "false")
	if err != nil {
		return err
	}
	if active != "" {
		a := active == "true"
		f.Active = &a
	}
	if f.Limit, err = httpkit.IntParam(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = httpkit.IntParam(r, "offset", 0, 0, 1_000_000); err != nil {
		return err
	}
	users, total, err := s.ListUsers(r.Context(), caller, f)
	if err != nil {
		return err
	}
	if users == nil {
		users = []*cloudcart.User{}
	}
	httpkit.WriteJSON(w, http.StatusOK, userPage{Users: users, Total: total, Limit: f.Limit, Offset: f.Offset})
	return nil
}

// jwks publishes the public keys. Verifiers may cache them for a few
// minutes; the gateway also refetches when it meets an unknown kid.
func (s *Service) jwks(w http.ResponseWriter, r *http.Request) {
	if err := httpkit.CheckQuery(r); err != nil { // it takes none
		httpkit.Error(w, r, s.log, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpkit.WriteJSON(w, http.StatusOK, s.KeySet())
}
