package console

import (
	"net/http"
	"strconv"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/learn"
)

// The Learn page's server side: the lessons as JSON, the lessons' actions
// run on the learner's behalf (only the requests written in the lesson
// table, chosen by lesson id and index: the browser cannot make this
// server send anything else), and exercises compared with their
// reference query.

// lessonView is a lesson as the browser gets it: each action with its
// curl line, and whether this console can run it as a button.
type lessonView struct {
	learn.Lesson
	Actions []actionView `json:"actions"`
}

type actionView struct {
	learn.Action
	Curl     string `json:"curl,omitempty"`
	Runnable bool   `json:"runnable"`
}

// AddServiceURL adds a service the Learn page's buttons may call, such as
// the OTLP receiver, known only after the console is built. Call it before
// the console serves.
func (c *Console) AddServiceURL(service, url string) {
	if c.o.ServiceURLs == nil {
		c.o.ServiceURLs = map[string]string{}
	}
	c.o.ServiceURLs[service] = url
}

func (c *Console) learnRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/api/lessons", c.lessons)
	mux.HandleFunc("POST /console/api/lessons/{id}/actions/{n}", c.writes(c.lessonAction))
	mux.HandleFunc("POST /console/api/lessons/{id}/exercise", c.writes(c.exercise))
}

func (c *Console) runner() *learn.Runner {
	return &learn.Runner{
		BaseURL:    func(service string) string { return c.o.ServiceURLs[service] },
		EngineURL:  c.o.PrometheusURL,
		ChaosToken: c.o.ChaosToken,
		// nil: the runner's own client, whose timeout allows a lesson's
		// longest simulation (the console's 10 s client does not).
	}
}

func (c *Console) lessons(w http.ResponseWriter, _ *http.Request) {
	out := make([]lessonView, 0, len(learn.Lessons))
	for _, l := range learn.Lessons {
		v := lessonView{Lesson: l}
		for _, a := range l.Actions {
			av := actionView{Action: a}
			if a.HTTP() {
				av.Curl = a.Curl(c.o.ServiceURLs[a.Service])
				av.Runnable = a.Console && c.o.ServiceURLs[a.Service] != "" && (!a.Chaos || c.o.ChaosToken != "")
			}
			v.Actions = append(v.Actions, av)
		}
		out = append(out, v)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"lessons": out})
}

func (c *Console) lesson(w http.ResponseWriter, r *http.Request) (learn.Lesson, bool) {
	l, ok := learn.ByID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no lesson "+strconv.Quote(r.PathValue("id")))
	}
	return l, ok
}

func (c *Console) lessonAction(w http.ResponseWriter, r *http.Request) {
	l, ok := c.lesson(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(l.Actions) {
		writeError(w, http.StatusNotFound, "lesson "+l.ID+" has no action "+strconv.Quote(r.PathValue("n")))
		return
	}
	a := l.Actions[n]
	if !a.HTTP() || !a.Console {
		writeError(w, http.StatusBadRequest, "action "+strconv.Quote(a.Label)+" is not a console button: "+cmdOrLink(a))
		return
	}
	res, err := c.runner().Do(r.Context(), a)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	httpkit.WriteJSON(w, http.StatusOK, res)
}

func cmdOrLink(a learn.Action) string {
	if a.Command != "" {
		return "run " + a.Command
	}
	return "open " + a.Link
}

func (c *Console) exercise(w http.ResponseWriter, r *http.Request) {
	l, ok := c.lesson(w, r)
	if !ok {
		return
	}
	if l.Exercise == nil {
		writeError(w, http.StatusNotFound, "lesson "+l.ID+" has no exercise")
		return
	}
	var body struct {
		Query string `json:"query"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if body.Query == "" || len(body.Query) > 4096 {
		writeError(w, http.StatusBadRequest, "query: write a PromQL expression (at most 4096 bytes)")
		return
	}
	cmp, err := c.runner().Compare(r.Context(), body.Query, l.Exercise.Reference, l.Exercise.Tolerance)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	httpkit.WriteJSON(w, http.StatusOK, cmp)
}
