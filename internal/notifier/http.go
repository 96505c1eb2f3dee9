package notifier

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// respond turns a returned error into the JSON error response.
// params are the query parameters the route accepts (httpkit.CheckQuery).
func (s *Service) respond(fn func(http.ResponseWriter, *http.Request) error, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := httpkit.CheckQuery(r, params...)
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			httpkit.Error(w, r, s.log, err)
		}
	}
}

// NotificationList is the body of GET /notifications. Next, when set, is
// the before= value of the next (older) page.
type NotificationList struct {
	Notifications []*cloudcart.Notification `json:"notifications"`
	Next          string                    `json:"next,omitempty"`
}

// listNotifications serves GET /notifications?limit=N&kind=K&before=ID:
// newest first, N (1-500, default 50) per page, optionally one kind (an
// event type or "alert").
func (s *Service) listNotifications(w http.ResponseWriter, r *http.Request) error {
	var (
		f   cloudcart.NotificationFilter
		err error
	)
	if f.Limit, err = httpkit.IntParam(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	if f.Kind, err = httpkit.StringParam(r, "kind", 64); err != nil {
		return err
	}
	if f.Before, err = httpkit.StringParam(r, "before", 64); err != nil {
		return err
	}
	if f.Kind != "" && f.Kind != cloudcart.NotificationKindAlert && !cloudcart.EventType(f.Kind).Valid() {
		return cloudcart.Errorf(cloudcart.EINVALID, "kind must be an event type or %q", cloudcart.NotificationKindAlert)
	}
	ns, err := s.o.Store.FindNotifications(r.Context(), f)
	if err != nil {
		return err
	}
	out := NotificationList{Notifications: ns}
	if out.Notifications == nil {
		out.Notifications = []*cloudcart.Notification{}
	}
	if len(ns) == f.Limit {
		out.Next = ns[len(ns)-1].ID
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}

// AlertmanagerMessage is Alertmanager's webhook payload (version "4"),
// also what CloudCart's embedded Prometheus posts.
type AlertmanagerMessage struct {
	Version           string              `json:"version"`
	GroupKey          string              `json:"groupKey"`
	TruncatedAlerts   int                 `json:"truncatedAlerts"`
	Status            string              `json:"status"`
	Receiver          string              `json:"receiver"`
	GroupLabels       map[string]string   `json:"groupLabels"`
	CommonLabels      map[string]string   `json:"commonLabels"`
	CommonAnnotations map[string]string   `json:"commonAnnotations"`
	ExternalURL       string              `json:"externalURL"`
	Alerts            []AlertmanagerAlert `json:"alerts"`
}

// AlertmanagerAlert is one alert of an AlertmanagerMessage.
type AlertmanagerAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// maxAlerts bounds one message; Alertmanager's own default is unlimited,
// but a group of thousands of alerts is one notification's worth of noise.
const maxAlerts = 1000

// receiveAlerts turns each alert of an Alertmanager webhook message into a
// notification, stored before the 200: a failure answers 5xx and
// Alertmanager retries. Decoding tolerates fields newer Alertmanagers add.
func (s *Service) receiveAlerts(w http.ResponseWriter, r *http.Request) error {
	msg, ns, err := decodeAlerts(r.Body, s.o.Now())
	if err != nil {
		return err
	}
	trace := map[string]string{}
	s.o.Propagator.Inject(r.Context(), propagation.MapCarrier(trace))
	for _, n := range ns {
		n.Trace = trace
	}
	if err := s.o.Store.AddNotifications(r.Context(), ns, s.names); err != nil {
		return err
	}
	for _, a := range msg.Alerts {
		s.m.add(s.m.alerts, "status", a.Status)
	}
	s.Wake()
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"accepted": len(ns), "notifications": ids})
	return nil
}

// decodeAlerts reads an Alertmanager webhook message and turns each alert
// into a notification. Its errors are EINVALID or ETOOLARGE domain errors
// that say what is wrong with the body.
func decodeAlerts(body io.Reader, now time.Time) (AlertmanagerMessage, []*cloudcart.Notification, error) {
	var msg AlertmanagerMessage
	dec := json.NewDecoder(body)
	if err := dec.Decode(&msg); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return msg, nil, cloudcart.Errorf(cloudcart.ETOOLARGE, "body must be at most %d bytes", mbe.Limit)
		}
		if errors.Is(err, io.EOF) {
			return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "body must be an Alertmanager webhook message")
		}
		return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "malformed Alertmanager webhook JSON: %v", err)
	}
	switch {
	case msg.Version != "4":
		return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "webhook version %q is not supported, want \"4\"", msg.Version)
	case len(msg.Alerts) == 0:
		return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "the message has no alerts")
	case len(msg.Alerts) > maxAlerts:
		return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "at most %d alerts per message, got %d", maxAlerts, len(msg.Alerts))
	}
	ns := make([]*cloudcart.Notification, 0, len(msg.Alerts))
	for i, a := range msg.Alerts {
		n, err := cloudcart.NotificationForAlert(cloudcart.Alert{
			Status: a.Status, Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt,
			EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
		}, now)
		if err != nil {
			return msg, nil, cloudcart.Errorf(cloudcart.EINVALID, "alerts[%d]: %s", i, cloudcart.ErrorMessage(err))
		}
		if msg.Receiver != "" {
			n.Fields["receiver"] = msg.Receiver
		}
		ns = append(ns, n)
	}
	return msg, ns, nil
}
