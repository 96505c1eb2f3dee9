package users

import (
	"context"
	"errors"
	"net/http"
	"strconv"
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
	mux.HandleFunc("POST /auth/register", s.handle(s.register))
	mux.HandleFunc("POST /auth/login", s.handle(s.login))
	mux.HandleFunc("GET /users/me", s.handle(s.authed(s.getMe)))
	mux.HandleFunc("PATCH /users/me", s.handle(s.authed(s.updateMe)))
	mux.HandleFunc("GET /users", s.handle(s.authed(s.listUsers)))
	mux.HandleFunc("GET /users/{id}", s.handle(s.authed(s.getUser)))
	mux.HandleFunc("PATCH /users/{id}", s.handle(s.authed(s.updateUser)))
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	return mux
}

// handle turns a handler's error into the JSON error response and counts
// it in user_errors_total.
func (s *Service) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
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
	u, err := s.Register(r.Context(), req.Email, req.Name, req.Password)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/users/"+u.ID)
	httpkit.WriteJSON(w, http.StatusCreated, u)
	return nil
}

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
	q := r.URL.Query()
	f := cloudcart.UserFilter{Role: cloudcart.Role(q.Get("role"))}
	if f.Role != "" && !f.Role.Valid() {
		return cloudcart.Errorf(cloudcart.EINVALID, "role must be user or admin, got %q", truncate(string(f.Role)))
	}
	switch v := q.Get("active"); v {
	case "":
	case "true", "false":
		active := v == "true"
		f.Active = &active
	default:
		return cloudcart.Errorf(cloudcart.EINVALID, "active must be true or false, got %q", truncate(v))
	}
	var err error
	if f.Limit, err = intParam(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = intParam(r, "offset", 0, 0, 1_000_000); err != nil {
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
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpkit.WriteJSON(w, http.StatusOK, s.KeySet())
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, cloudcart.Errorf(cloudcart.EINVALID, "%s must be an integer between %d and %d, got %q", name, lo, hi, truncate(v))
	}
	return n, nil
}
