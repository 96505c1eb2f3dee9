package validate_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/users"
)

var update = flag.Bool("update", false, "rewrite the generated files under deploy/k8s")

// ---------------------------------------------------------------- generated

// k8sGenerated are the files under deploy/k8s made from other files of
// deploy/, by path relative to deploy/: `make generate` writes them (with
// every other generated file).
func k8sGenerated(tb testing.TB) map[string][]byte {
	tb.Helper()
	return map[string][]byte{
		"k8s/base/prometheusrule.yaml": prometheusRules(tb),
		// kustomize reads files below the kustomization only: a copy.
		"k8s/base/init-databases.sql": mustRead(tb, "postgres/init-databases.sql"),
	}
}

const prometheusRuleHeader = `# Code generated from deploy/prometheus/rules/*.yml by ` + "`make generate`" + `
# (deploy/validate: go test -run TestK8sGeneratedFiles -update). DO NOT EDIT.
#
# One PrometheusRule per rule file, for the Prometheus Operator: the rules
# and alerts the compose Prometheus and ` + "`cloudcart run`" + ` load. A Prometheus
# picks rules by its ruleSelector; kube-prometheus-stack's wants the label
# release: <its release name> (docs/deploy.md).
`

// prometheusRules wraps each rule file, text and comments kept, as the
// spec of a PrometheusRule: a rule file is {groups: [...]}, and so is a
// PrometheusRule's spec.
func prometheusRules(tb testing.TB) []byte {
	tb.Helper()
	files := mustRuleFiles(tb)
	var b bytes.Buffer
	b.WriteString(prometheusRuleHeader)
	for i, f := range files {
		if i > 0 {
			b.WriteString("---\n")
		} else {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "# deploy/prometheus/rules/%s\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: %s\nspec:\n",
			filepath.Base(f), ruleObjectName(f))
		text := string(mustRead(tb, f))
		for line := range strings.Lines(text) {
			if l := strings.TrimRight(line, "\n"); l == "---" || l == "..." || strings.HasPrefix(l, "%") {
				tb.Fatalf("%s: one YAML document without markers or directives, please (found %q)", f, l)
			}
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("  " + line)
		}
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func mustRuleFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no rule files in prometheus/rules (%v)", err)
	}
	slices.Sort(files)
	return files
}

func ruleObjectName(file string) string {
	return "cloudcart-" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".yml"), ".", "-")
}

// The generated files are committed and must be what generating gives.
func TestK8sGeneratedFiles(t *testing.T) {
	for path, want := range k8sGenerated(t) {
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			why := "it differs from what its sources generate"
			if err != nil {
				why = err.Error()
			}
			t.Errorf("deploy/%s is stale: %s; regenerate it with\n\n\tmake generate\n\nand commit the result", path, why)
		}
	}
}

// ------------------------------------------------------------- files listed

// Every file under deploy/k8s is used by a kustomization, and every file
// a kustomization names exists: nothing is silently left out.
func TestK8sFilesAreListed(t *testing.T) {
	used := map[string]bool{}
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		dir := filepath.Dir(p)
		used[p] = true
		var k ktypes.Kustomization
		if err := yaml.UnmarshalStrict(mustRead(t, p), &k); err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		k.FixKustomization()
		var refs []string
		refs = append(refs, k.Resources...)
		refs = append(refs, k.Components...)
		for _, g := range k.ConfigMapGenerator {
			refs = append(refs, kvFiles(g.KvPairSources)...)
		}
		for _, g := range k.SecretGenerator {
			refs = append(refs, kvFiles(g.KvPairSources)...)
		}
		for _, patch := range k.Patches {
			if patch.Path != "" {
				refs = append(refs, patch.Path)
			}
		}
		for _, r := range refs {
			full := filepath.Join(dir, r)
			if isSecretFile(full) {
				continue // made by make k8s-secrets, not committed
			}
			st, err := os.Stat(full)
			if err != nil {
				t.Errorf("%s names %s: %v", p, r, err)
				continue
			}
			if !st.IsDir() {
				used[full] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".gitignore" || isSecretFile(p) {
			return err
		}
		if !used[p] {
			t.Errorf("deploy/%s is in no kustomization", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func kvFiles(s ktypes.KvPairSources) []string {
	var out []string
	for _, f := range s.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		out = append(out, f)
	}
	return append(out, s.EnvSources...)
}

// isSecretFile reports whether p is in an overlay's git-ignored secrets/.
func isSecretFile(p string) bool {
	return slices.Contains(strings.Split(filepath.ToSlash(p), "/"), "secrets")
}

// --------------------------------------------------------------- the build

// requiredSecrets are the keys of cloudcart-secrets the pods cannot start
// without; `make k8s-secrets` writes each.
var requiredSecrets = []string{"POSTGRES_PASSWORD", "CHAOS_TOKEN", "SERVICE_TOKEN"}

// mustSecrets writes an overlay's secrets/ into dir the way `make
// k8s-secrets` does: by running it when make and openssl are there, else
// with the same content made here.
func mustSecrets(tb testing.TB, dir string) {
	tb.Helper()
	_, errMake := exec.LookPath("make")
	_, errSSL := exec.LookPath("openssl")
	if errMake == nil && errSSL == nil {
		out, err := exec.Command("make", "-s", "-C", "..", "k8s-secrets", "K8S_SECRETS="+dir).CombinedOutput()
		if err != nil {
			tb.Fatalf("make k8s-secrets: %v\n%s", err, out)
		}
	} else {
		tb.Logf("make or openssl missing (%v, %v): secrets made in Go", errMake, errSSL)
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			tb.Fatal(err)
		}
		env := ""
		for _, k := range requiredSecrets {
			env += k + "=0123456789abcdef0123456789abcdef\n"
		}
		if err := errors.Join(
			os.WriteFile(filepath.Join(dir, "cloudcart.env"), []byte(env), 0o600),
			os.WriteFile(filepath.Join(dir, "users-signing-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600),
		); err != nil {
			tb.Fatal(err)
		}
	}
	// What the services will do with them.
	if _, _, err := users.LoadOrCreateKey(filepath.Join(dir, "users-signing-key.pem"), false); err != nil {
		tb.Errorf("users-signing-key.pem: %v", err)
	}
	env := string(mustRead(tb, filepath.Join(dir, "cloudcart.env")))
	for _, k := range requiredSecrets {
		m := regexp.MustCompile(`(?m)^` + k + `=([0-9a-f]{32,})$`).FindStringSubmatch(env)
		if m == nil {
			tb.Errorf("cloudcart.env: no %s=<32+ hex digits> (URL-safe, long enough for the chaos token)", k)
		}
	}
}

// mustKustomize builds deploy/k8s/<dir> as `kubectl apply -k` would, on an
// in-memory copy of deploy/k8s with every overlay's secrets made.
func mustKustomize(tb testing.TB, dir string) []map[string]any {
	tb.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || isSecretFile(p) {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), mustRead(tb, p))
	})
	if err != nil {
		tb.Fatal(err)
	}
	secrets := filepath.Join(tb.TempDir(), "secrets")
	mustSecrets(tb, secrets)
	overlays, err := os.ReadDir("k8s/overlays")
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range overlays {
		for _, f := range []string{"cloudcart.env", "users-signing-key.pem"} {
			if err := mem.WriteFile(path.Join("/k8s/overlays", o.Name(), "secrets", f), mustRead(tb, filepath.Join(secrets, f))); err != nil {
				tb.Fatal(err)
			}
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/k8s/"+dir)
	if err != nil {
		tb.Fatalf("kustomize build deploy/k8s/%s: %v", dir, err)
	}
	var out []map[string]any
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			tb.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			tb.Fatal(err)
		}
		out = append(out, obj)
	}
	return out
}

// cluster is a build's objects, each decoded strictly into its API type.
type cluster struct {
	Namespaces      []corev1.Namespace
	ConfigMaps      []corev1.ConfigMap
	Secrets         []corev1.Secret
	Services        []corev1.Service
	Deployments     []appsv1.Deployment
	StatefulSets    []appsv1.StatefulSet
	HPAs            []autoscalingv2.HorizontalPodAutoscaler
	PDBs            []policyv1.PodDisruptionBudget
	ServiceMonitors []monitoringv1.ServiceMonitor
	PrometheusRules []monitoringv1.PrometheusRule
}

// decodeStrict decodes obj into v, failing on any field v's type lacks: a
// misspelt or misplaced field in a manifest is an error, as kubectl's
// server-side field validation would make it.
func decodeStrict(obj map[string]any, v any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func mustCluster(tb testing.TB, objs []map[string]any) *cluster {
	tb.Helper()
	c := &cluster{}
	for _, obj := range objs {
		gvk := fmt.Sprintf("%v/%v", obj["apiVersion"], obj["kind"])
		meta, _ := obj["metadata"].(map[string]any)
		var err error
		switch gvk {
		case "v1/Namespace":
			err = appendDecoded(obj, &c.Namespaces)
		case "v1/ConfigMap":
			err = appendDecoded(obj, &c.ConfigMaps)
		case "v1/Secret":
			err = appendDecoded(obj, &c.Secrets)
		case "v1/Service":
			err = appendDecoded(obj, &c.Services)
		case "apps/v1/Deployment":
			err = appendDecoded(obj, &c.Deployments)
		case "apps/v1/StatefulSet":
			err = appendDecoded(obj, &c.StatefulSets)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			err = appendDecoded(obj, &c.HPAs)
		case "policy/v1/PodDisruptionBudget":
			err = appendDecoded(obj, &c.PDBs)
		case "monitoring.coreos.com/v1/ServiceMonitor":
			err = appendDecoded(obj, &c.ServiceMonitors)
		case "monitoring.coreos.com/v1/PrometheusRule":
			err = appendDecoded(obj, &c.PrometheusRules)
		default:
			err = fmt.Errorf("no API type known for %s: add it to the test", gvk)
		}
		if err != nil {
			tb.Errorf("%s %v: %v", gvk, meta["name"], err)
		}
	}
	return c
}

func appendDecoded[T any](obj map[string]any, list *[]T) error {
	var v T
	if err := decodeStrict(obj, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// objectMeta returns the metadata of every namespaced object.
func (c *cluster) objectMeta() []metav1.ObjectMeta {
	var out []metav1.ObjectMeta
	add := func(m metav1.ObjectMeta) { out = append(out, m) }
	for _, x := range c.ConfigMaps {
		add(x.ObjectMeta)
	}
	for _, x := range c.Secrets {
		add(x.ObjectMeta)
	}
	for _, x := range c.Services {
		add(x.ObjectMeta)
	}
	for _, x := range c.Deployments {
		add(x.ObjectMeta)
	}
	for _, x := range c.StatefulSets {
		add(x.ObjectMeta)
	}
	for _, x := range c.HPAs {
		add(x.ObjectMeta)
	}
	for _, x := range c.PDBs {
		add(x.ObjectMeta)
	}
	for _, x := range c.ServiceMonitors {
		add(x.ObjectMeta)
	}
	for _, x := range c.PrometheusRules {
		add(x.ObjectMeta)
	}
	return out
}

// workload is a Deployment's or StatefulSet's pod template.
type workload struct {
	Kind, Name string
	Pod        corev1.PodTemplateSpec
}

func (c *cluster) workloads() []workload {
	var out []workload
	for _, d := range c.Deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Template})
	}
	for _, s := range c.StatefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Template})
	}
	return out
}

// selected returns the workloads whose pods a selector picks.
func (c *cluster) selected(sel map[string]string) []workload {
	var out []workload
	if len(sel) == 0 {
		return nil
	}
	for _, w := range c.workloads() {
		if labels.SelectorFromSet(sel).Matches(labels.Set(w.Pod.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func (c *cluster) configMap(name string) (corev1.ConfigMap, bool) {
	i := slices.IndexFunc(c.ConfigMaps, func(m corev1.ConfigMap) bool { return m.Name == name })
	if i < 0 {
		return corev1.ConfigMap{}, false
	}
	return c.ConfigMaps[i], true
}

func (c *cluster) secret(name string) (corev1.Secret, bool) {
	i := slices.IndexFunc(c.Secrets, func(s corev1.Secret) bool { return s.Name == name })
	if i < 0 {
		return corev1.Secret{}, false
	}
	return c.Secrets[i], true
}

func (c *cluster) service(name string) (corev1.Service, bool) {
	i := slices.IndexFunc(c.Services, func(s corev1.Service) bool { return s.Name == name })
	if i < 0 {
		return corev1.Service{}, false
	}
	return c.Services[i], true
}

// hasPort reports whether a container port answers to p, by name or number.
func hasPort(ports []corev1.ContainerPort, p intstr.IntOrString) bool {
	return slices.ContainsFunc(ports, func(cp corev1.ContainerPort) bool {
		if p.Type == intstr.String {
			return cp.Name == p.StrVal
		}
		return cp.ContainerPort == p.IntVal
	})
}

func TestK8sBaseBuilds(t *testing.T) {
	mustCluster(t, mustKustomize(t, "base"))
}

func TestK8sOverlays(t *testing.T) {
	overlays, err := os.ReadDir("k8s/overlays")
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) == 0 {
		t.Fatal("no overlays")
	}
	for _, o := range overlays {
		t.Run(o.Name(), func(t *testing.T) {
			checkCluster(t, mustCluster(t, mustKustomize(t, "overlays/"+o.Name())))
		})
	}
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func checkCluster(t *testing.T, c *cluster) {
	naming := mustNaming(t)
	flags := serveEnv(t)
	dbs := mustDatabases(t)

	t.Run("namespace", func(t *testing.T) {
		if len(c.Namespaces) != 1 || c.Namespaces[0].Name != "cloudcart" {
			t.Fatalf("namespaces %v, want cloudcart", c.Namespaces)
		}
		for _, m := range c.objectMeta() {
			if m.Namespace != "cloudcart" {
				t.Errorf("%s is in namespace %q, want cloudcart", m.Name, m.Namespace)
			}
		}
	})

	t.Run("every service deployed and reachable by its name", func(t *testing.T) {
		for _, s := range naming {
			if !slices.ContainsFunc(c.Deployments, func(d appsv1.Deployment) bool { return d.Name == s.Name }) {
				t.Errorf("no Deployment %s", s.Name)
			}
			svc, ok := c.service(s.Name)
			if !ok || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != int32(s.Port) {
				t.Errorf("Service %s: want one port %d, got %+v", s.Name, s.Port, svc.Spec.Ports)
			}
		}
	})

	t.Run("pods", func(t *testing.T) {
		for _, w := range c.workloads() {
			checkPod(t, c, w, naming, flags, dbs)
		}
	})

	t.Run("services select pods with their ports", func(t *testing.T) {
		for _, s := range c.Services {
			ws := c.selected(s.Spec.Selector)
			if len(ws) != 1 {
				t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(ws))
				continue
			}
			var ports []corev1.ContainerPort
			for _, ct := range ws[0].Pod.Spec.Containers {
				ports = append(ports, ct.Ports...)
			}
			for _, p := range s.Spec.Ports {
				if !hasPort(ports, p.TargetPort) {
					t.Errorf("Service %s port %s: target %s is no container port of %s", s.Name, p.Name, p.TargetPort.String(), ws[0].Name)
				}
			}
		}
		for _, st := range c.StatefulSets {
			if _, ok := c.service(st.Spec.ServiceName); !ok {
				t.Errorf("StatefulSet %s: serviceName %s is no Service", st.Name, st.Spec.ServiceName)
			}
		}
	})

	t.Run("autoscalers", func(t *testing.T) {
		scaled := map[string]bool{}
		for _, h := range c.HPAs {
			ref := h.Spec.ScaleTargetRef
			i := slices.IndexFunc(c.Deployments, func(d appsv1.Deployment) bool { return d.Name == ref.Name })
			switch {
			case ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || i < 0:
				t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not here", h.Name, ref.Kind, ref.Name)
			case c.Deployments[i].Spec.Replicas != nil:
				t.Errorf("Deployment %s sets replicas, which its HorizontalPodAutoscaler owns", ref.Name)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				t.Errorf("HorizontalPodAutoscaler %s: replicas %v to %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
			}
			for _, m := range h.Spec.Metrics {
				if m.Resource == nil || m.Resource.Name != corev1.ResourceCPU {
					continue
				}
				// CPU utilization is relative to the request.
				ct := c.Deployments[max(i, 0)].Spec.Template.Spec.Containers
				for _, x := range ct {
					if x.Resources.Requests.Cpu().IsZero() {
						t.Errorf("HorizontalPodAutoscaler %s scales on CPU, container %s requests none", h.Name, x.Name)
					}
				}
			}
			scaled[ref.Name] = true
		}
		for _, name := range []string{"gateway", "orders"} {
			if !scaled[name] {
				t.Errorf("no HorizontalPodAutoscaler for %s", name)
			}
		}
	})

	t.Run("disruption budgets", func(t *testing.T) {
		covered := map[string]bool{}
		for _, p := range c.PDBs {
			if p.Spec.Selector == nil || len(p.Spec.Selector.MatchExpressions) > 0 {
				t.Errorf("PodDisruptionBudget %s: want a matchLabels selector", p.Name)
				continue
			}
			ws := c.selected(p.Spec.Selector.MatchLabels)
			if len(ws) != 1 {
				t.Errorf("PodDisruptionBudget %s selects %d workloads, want 1", p.Name, len(ws))
				continue
			}
			covered[ws[0].Name] = true
		}
		for _, s := range naming {
			if !covered[s.Name] {
				t.Errorf("no PodDisruptionBudget for %s", s.Name)
			}
		}
	})

	t.Run("service monitors scrape the naming contract's jobs", func(t *testing.T) {
		want := map[string]bool{}
		for _, s := range naming {
			want[s.Job] = true
		}
		got := map[string]bool{}
		for _, sm := range c.ServiceMonitors {
			var svcs []corev1.Service
			for _, s := range c.Services {
				if labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) {
					svcs = append(svcs, s)
				}
			}
			if len(sm.Spec.Selector.MatchLabels) == 0 || len(svcs) != 1 {
				t.Errorf("ServiceMonitor %s selects %d Services, want 1", sm.Name, len(svcs))
				continue
			}
			svc := svcs[0]
			for _, e := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
					t.Errorf("ServiceMonitor %s: port %q is not a port of Service %s", sm.Name, e.Port, svc.Name)
				}
				if e.Path != "/metrics" {
					t.Errorf("ServiceMonitor %s scrapes %q, want /metrics", sm.Name, e.Path)
				}
			}
			job := svc.Labels[sm.Spec.JobLabel]
			if sm.Spec.JobLabel == "" || !want[job] {
				t.Errorf("ServiceMonitor %s: job %q (jobLabel %q of Service %s) is no job of docs/naming.md", sm.Name, job, sm.Spec.JobLabel, svc.Name)
			}
			if s, ok := lookupService(naming, svc.Name); ok && s.Job != job {
				t.Errorf("Service %s is scraped as job %s, want %s", svc.Name, job, s.Job)
			}
			got[job] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("jobs scraped %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	})

	t.Run("prometheus rules are the rule files", func(t *testing.T) {
		files := mustRuleFiles(t)
		if len(c.PrometheusRules) != len(files) {
			t.Errorf("%d PrometheusRules, %d rule files", len(c.PrometheusRules), len(files))
		}
		for _, f := range files {
			var want monitoringv1.PrometheusRuleSpec
			if err := yaml.UnmarshalStrict(mustRead(t, f), &want); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			i := slices.IndexFunc(c.PrometheusRules, func(r monitoringv1.PrometheusRule) bool { return r.Name == ruleObjectName(f) })
			if i < 0 {
				t.Errorf("no PrometheusRule %s for %s", ruleObjectName(f), f)
				continue
			}
			if got := c.PrometheusRules[i].Spec; !reflect.DeepEqual(got, want) {
				t.Errorf("PrometheusRule %s differs from %s: run make generate", ruleObjectName(f), f)
			}
		}
	})
}

// checkPod checks one pod template: security, resources, probes, the
// objects and variables it refers to, and for CloudCart the command,
// port and settings.
func checkPod(t *testing.T, c *cluster, w workload, naming []service, flags map[string]bool, dbs []string) {
	spec := w.Pod.Spec
	name := w.Kind + " " + w.Name
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as a non-root uid (runAsNonRoot, runAsUser)", name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod needs seccompProfile RuntimeDefault", name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it does not use", name)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if s := v.Secret; s != nil && (s.Optional == nil || !*s.Optional) {
			if _, ok := c.secret(s.SecretName); !ok {
				t.Errorf("%s: volume %s: no Secret %s", name, v.Name, s.SecretName)
			}
		}
		if m := v.ConfigMap; m != nil && (m.Optional == nil || !*m.Optional) {
			if _, ok := c.configMap(m.Name); !ok {
				t.Errorf("%s: volume %s: no ConfigMap %s", name, v.Name, m.Name)
			}
		}
	}
	claims := map[string]bool{}
	for _, st := range c.StatefulSets {
		if st.Name == w.Name && w.Kind == "StatefulSet" {
			for _, pvc := range st.Spec.VolumeClaimTemplates {
				claims[pvc.Name] = true
			}
		}
	}
	for _, ct := range spec.Containers {
		cname := fmt.Sprintf("%s container %s", name, ct.Name)
		if err := pinned(ct.Image); err != nil {
			t.Errorf("%s: %v", cname, err)
		}
		sc := ct.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop [ALL]", cname)
		}
		r := ct.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("%s: want cpu and memory requests and a memory limit, got %+v", cname, r)
		}
		for _, m := range ct.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok && !claims[m.Name] {
				t.Errorf("%s: mounts %s, which is no volume", cname, m.Name)
			}
		}
		for kind, p := range map[string]*corev1.Probe{"readiness": ct.ReadinessProbe, "liveness": ct.LivenessProbe} {
			if p == nil {
				t.Errorf("%s: no %s probe", cname, kind)
			}
		}
		for _, p := range []*corev1.Probe{ct.StartupProbe, ct.ReadinessProbe, ct.LivenessProbe} {
			if p != nil && p.HTTPGet != nil && !hasPort(ct.Ports, p.HTTPGet.Port) {
				t.Errorf("%s: probe %s on port %s, which the container does not have", cname, p.HTTPGet.Path, p.HTTPGet.Port.String())
			}
		}

		// The environment: what each variable refers to exists, and
		// $(VAR) names a variable defined before it.
		env := map[string]string{}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef == nil {
				t.Errorf("%s: envFrom other than a ConfigMap", cname)
				continue
			}
			m, ok := c.configMap(ef.ConfigMapRef.Name)
			if !ok {
				t.Errorf("%s: envFrom: no ConfigMap %s", cname, ef.ConfigMapRef.Name)
			}
			maps.Copy(env, m.Data)
		}
		for _, e := range ct.Env {
			for _, ref := range varRef.FindAllStringSubmatch(e.Value, -1) {
				if _, ok := env[ref[1]]; !ok {
					t.Errorf("%s: %s refers to $(%s), which is not defined before it", cname, e.Name, ref[1])
				}
			}
			value := varRef.ReplaceAllStringFunc(e.Value, func(s string) string { return env[varRef.FindStringSubmatch(s)[1]] })
			if vf := e.ValueFrom; vf != nil {
				switch {
				case vf.SecretKeyRef != nil:
					ref := vf.SecretKeyRef
					s, ok := c.secret(ref.Name)
					if _, has := s.Data[ref.Key]; (!ok || !has) && (ref.Optional == nil || !*ref.Optional) {
						t.Errorf("%s: %s: Secret %s has no key %s", cname, e.Name, ref.Name, ref.Key)
					}
					value = "secret"
				case vf.ConfigMapKeyRef != nil:
					ref := vf.ConfigMapKeyRef
					m, ok := c.configMap(ref.Name)
					if _, has := m.Data[ref.Key]; (!ok || !has) && (ref.Optional == nil || !*ref.Optional) {
						t.Errorf("%s: %s: ConfigMap %s has no key %s", cname, e.Name, ref.Name, ref.Key)
					}
					value = m.Data[ref.Key]
				}
			}
			env[e.Name] = value
		}

		if !strings.Contains(ct.Image, "cloudcart") {
			continue
		}
		// A CloudCart service.
		if len(ct.Args) != 2 || ct.Args[0] != "serve" {
			t.Errorf("%s: args %q, want [serve NAME]", cname, ct.Args)
			continue
		}
		svc, ok := lookupService(naming, ct.Args[1])
		if !ok || svc.Name != w.Name {
			t.Errorf("%s serves %q: want its own name, a fleet service", name, ct.Args[1])
			continue
		}
		if !slices.ContainsFunc(ct.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == int32(svc.Port) }) {
			t.Errorf("%s: no port http %d", cname, svc.Port)
		}
		if p := ct.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe must GET /readyz", cname)
		}
		if p := ct.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness probe must GET /healthz", cname)
		}
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if flags != nil && strings.HasPrefix(k, "CLOUDCART_") && !flags[k] {
				t.Errorf("%s: %s is not the variable of any `cloudcart serve` flag", cname, k)
			}
			if !connects(k) || env[k] == "" || env[k] == "secret" {
				continue
			}
			checkK8sEndpoints(t, cname+": "+k, env[k], c, naming, dbs)
		}
	}
}

// checkK8sEndpoints fails unless every host a value connects to is a
// Service of the build, at the CloudCart service's port when it is one,
// and a PostgreSQL DSN names a database init-databases.sql makes.
func checkK8sEndpoints(tb testing.TB, what, value string, c *cluster, naming []service, dbs []string) {
	tb.Helper()
	eps, err := endpoints(value)
	if err != nil || len(eps) == 0 {
		tb.Errorf("%s: %q: no endpoint (%v)", what, value, err)
		return
	}
	for _, ep := range eps {
		svc, ok := c.service(ep.Host)
		if !ok {
			tb.Errorf("%s: %q: host %s is no Service", what, value, ep.Host)
			continue
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == ep.Port }) {
			tb.Errorf("%s: %q: Service %s has no port %s", what, value, ep.Host, ep.Port)
		}
		if s, ok := lookupService(naming, ep.Host); ok && ep.Port != strconv.Itoa(s.Port) {
			tb.Errorf("%s: %q: %s listens on %d", what, value, ep.Host, s.Port)
		}
		if strings.HasPrefix(value, "postgres") && strings.Contains(value, "://") && !slices.Contains(dbs, ep.Path) {
			tb.Errorf("%s: database %q is not created by init-databases.sql (%v)", what, ep.Path, dbs)
		}
	}
}

// The fleet's service names are the Services' names, so the URLs the
// services are given resolve.
func TestK8sNamesAreFleetNames(t *testing.T) {
	for _, s := range fleet.Services {
		if _, err := os.Stat(filepath.Join("k8s/base", s.Name+".yaml")); err != nil {
			t.Errorf("fleet service %s has no deploy/k8s/base/%s.yaml: %v", s.Name, s.Name, err)
		}
	}
}
