// manifestcheck decodes Kubernetes manifests strictly into the real API types (k8s.io/api, built from
// Debian's golang-k8s-api-dev source package) the way the API server's strict field validation does
// (sigs.k8s.io/json: field names are case-sensitive, unlike encoding/json): an unknown, misspelled or misplaced
// field, a wrong type or a duplicate field is an error, as `kubectl apply --validate=strict` would report it. Each object is printed back as
// one JSON line, round-tripped through its Go type, so that tests read what the API server would store.
//
//	manifestcheck FILE...     exit 0 when every document decodes; 1 with one line per failure otherwise
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// newObject is the Go type of an apiVersion/kind, for the kinds gokeylog's manifests use.
func newObject(t metav1.TypeMeta) (interface{}, error) {
	switch t.APIVersion + "/" + t.Kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/Pod":
		return &corev1.Pod{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "batch/v1/Job":
		return &batchv1.Job{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q in apiVersion %q", t.Kind, t.APIVersion)
}

// decodeStrict is YAML → JSON (duplicate keys refused) → the type, refusing fields it does not have.
func decodeStrict(doc []byte, obj interface{}) error {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

func check(file string) (failures int) {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
		return 1
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if err == io.EOF {
			return failures
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", file, n, err)
			return failures + 1
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", file, n, err)
			failures++
			continue
		}
		obj, err := newObject(meta)
		if err == nil {
			err = decodeStrict(doc, obj)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d (%s): %v\n", file, n, meta.Kind, err)
			failures++
			continue
		}
		line, err := json.Marshal(obj)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", file, n, err)
			failures++
			continue
		}
		fmt.Println(string(line))
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: manifestcheck FILE...")
		os.Exit(2)
	}
	failures := 0
	for _, file := range os.Args[1:] {
		failures += check(file)
	}
	if failures > 0 {
		os.Exit(1)
	}
}
