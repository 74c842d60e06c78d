package cluster

import (
	"errors"
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// TestShard: fixed specs, Slurm arrays (0- and 1-based, count checks),
// Kubernetes Indexed Jobs (count from the spec or GRADCOUPLE_SHARDS), and
// the errors that name what was looked for.
func TestShard(t *testing.T) {
	for _, c := range []struct {
		spec string
		env  func(string) string
		i, n int
		err  string
	}{
		{"2/4", env(), 2, 4, ""},
		{"4/4", env(), 0, 0, "want i/n"},
		{"auto", env(SlurmTaskID, "3", SlurmTaskMin, "0", SlurmTaskMax, "7", SlurmTaskCount, "8"), 3, 8, ""},
		{"auto", env(SlurmTaskID, "1", SlurmTaskMin, "1", SlurmTaskMax, "4"), 0, 4, ""},
		{"auto/4", env(SlurmTaskID, "4", SlurmTaskMin, "1", SlurmTaskMax, "4"), 3, 4, ""},
		{"auto/5", env(SlurmTaskID, "4", SlurmTaskMin, "1", SlurmTaskMax, "4"), 4, 5, ""},
		{"auto", env(SlurmTaskID, "1", SlurmTaskMin, "1", SlurmTaskMax, "1", SlurmTaskCount, "1", ShardCountVar, "3"), 1, 3, ""},
		{"auto", env(SlurmTaskID, "3", SlurmTaskMin, "3", SlurmTaskMax, "3", ShardCountVar, "3"), 0, 0, "not below the shard count 3"},
		{"auto", env(SlurmTaskID, "2", SlurmTaskMin, "0", SlurmTaskMax, "2", ShardCountVar, "3"), 2, 3, ""},
		{"auto", env(SlurmTaskID, "5", SlurmTaskMin, "0", SlurmTaskMax, "9", SlurmTaskCount, "4"), 0, 0, "contiguous"},
		{"auto", env(SlurmTaskID, "5"), 0, 0, SlurmTaskMin},
		{"auto/3", env(K8sIndex, "2"), 2, 3, ""},
		{"auto", env(K8sIndex, "2", ShardCountVar, "6"), 2, 6, ""},
		{"auto", env(K8sIndex, "2"), 0, 0, ShardCountVar},
		{"auto/2", env(K8sIndex, "2"), 0, 0, "not below"},
		{"auto", env(), 0, 0, SlurmTaskID},
		{"auto/x", env(), 0, 0, "want auto"},
	} {
		i, n, err := Shard(c.spec, c.env)
		switch {
		case c.err == "" && (err != nil || i != c.i || n != c.n):
			t.Errorf("%s: %d/%d, %v; want %d/%d", c.spec, i, n, err, c.i, c.n)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.spec, err, c.err)
		}
	}
	if _, _, err := Shard("auto", env()); !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), K8sIndex) {
		t.Errorf("outside an engine: %v", err)
	}
}
