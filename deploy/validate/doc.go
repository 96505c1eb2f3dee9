// Package validate checks CloudCart's deployment files without running
// them: deploy/Dockerfile and its build context, deploy/docker-compose.yml
// (with compose-go) and deploy/k8s (built with kustomize's engine, decoded
// into the Kubernetes and Prometheus Operator API types), against the
// fleet's services, flags and ports. It has only tests, and is a module of
// its own so that those libraries stay out of the main go.mod; `make test`
// runs it, `make generate` runs its -update.
package validate
