package main

import (
	"math/rand/v2"
	"sync"
)

// request is one simulated call to a retrieval-augmented generation API:
// what reference 004's practice exercise measures.
type request struct {
	endpoint, method, status string
	errorType                string // "" when the request succeeded
	duration                 float64
	retrieval, rerank        float64 // seconds
	embeddingHit             bool
	responseCacheHit         bool
	model                    string
	promptTokens             int64
	completionTokens         int64
}

// recorder is what both metric implementations do with a request: the
// workload drives the OpenTelemetry and the client_golang versions with the
// same calls, so their /metrics can be compared line by line.
type recorder interface {
	request(request)
	webhookStarted()
	webhookFinished(status string)
}

// workloadState keeps the counts behind the two hit-rate gauges.
type workloadState struct {
	mu                    sync.Mutex
	embLookups, embHits   int
	respLookups, respHits int
}

// hitRates are the embedding and response cache hit rates since start; 0
// before the first lookup.
func (s *workloadState) hitRates() (embedding, response float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.embLookups > 0 {
		embedding = float64(s.embHits) / float64(s.embLookups)
	}
	if s.respLookups > 0 {
		response = float64(s.respHits) / float64(s.respLookups)
	}
	return embedding, response
}

// workload simulates the retrieval system. Its randomness comes from a
// seeded source so tests can predict every value.
type workload struct {
	rng       *rand.Rand
	state     *workloadState
	recorders []recorder
}

func newWorkload(seed uint64, state *workloadState, recorders ...recorder) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, seed)), state: state, recorders: recorders}
}

var (
	endpoints = []string{"/search", "/answer", "/graphql"}
	models    = []string{"small", "large"}
	// errorTypes is the closed set of api_errors_total's error_type.
	errorTypes = []string{"validation", "upstream_timeout"}
)

// next makes up one request: retrieval 5–250 ms (a slow tail of 1–2 s one
// time in twenty), a 75% embedding cache, a 40% response cache, 3%
// validation errors and 2% upstream timeouts.
func (w *workload) next() request {
	r := request{endpoint: endpoints[w.rng.IntN(len(endpoints))], method: "POST", status: "200"}
	r.retrieval = 0.005 + w.rng.Float64()*0.245
	if w.rng.IntN(20) == 0 {
		r.retrieval = 1 + w.rng.Float64()
	}
	r.rerank = 0.001 + w.rng.Float64()*0.05
	r.embeddingHit = w.rng.Float64() < 0.75
	r.responseCacheHit = w.rng.Float64() < 0.4
	r.model = models[w.rng.IntN(len(models))]
	r.promptTokens = int64(200 + w.rng.IntN(800))
	r.completionTokens = int64(50 + w.rng.IntN(300))
	r.duration = r.retrieval + r.rerank + 0.02
	switch p := w.rng.Float64(); {
	case p < 0.03:
		r.status, r.errorType, r.completionTokens = "400", "validation", 0
	case p < 0.05:
		r.status, r.errorType, r.completionTokens = "504", "upstream_timeout", 0
	}
	return r
}

// step simulates one request and one webhook delivery and records both
// in every recorder.
func (w *workload) step() request {
	r := w.next()
	w.state.mu.Lock()
	w.state.embLookups++
	w.state.respLookups++
	if r.embeddingHit {
		w.state.embHits++
	}
	if r.responseCacheHit {
		w.state.respHits++
	}
	w.state.mu.Unlock()
	status := "success"
	if w.rng.IntN(10) == 0 {
		status = "failure"
	}
	for _, rec := range w.recorders {
		rec.request(r)
		rec.webhookStarted()
		rec.webhookFinished(status)
	}
	return r
}
