package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseShardIndex(t *testing.T) {
	good := `{"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`
	wm, err := ParseShardIndex([]byte(good), "index")
	if err != nil || len(wm) != 2 || wm["b"] != "model-00002-of-00002.safetensors" {
		t.Fatalf("%v %v", wm, err)
	}
	bad := []struct{ name, json, msg string }{
		{"not JSON", `{`, "invalid JSON"},
		{"array", `[]`, "not a JSON object"},
		{"no weight_map", `{"metadata": {}}`, "weight_map"},
		{"empty weight_map", `{"weight_map": {}}`, "empty"},
		{"weight_map not an object", `{"weight_map": []}`, "not an object"},
		{"duplicate tensor", `{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}`, "duplicate"},
		{"duplicate weight_map", `{"weight_map": {"a": "x.safetensors"}, "weight_map": {}}`, "duplicate"},
		{"number value", `{"weight_map": {"a": 1}}`, "not a file name"},
		{"parent directory", `{"weight_map": {"a": "../x.safetensors"}}`, "directory part"},
		{"absolute", `{"weight_map": {"a": "/tmp/x.safetensors"}}`, "directory part"},
		{"subdirectory", `{"weight_map": {"a": "sub/x.safetensors"}}`, "directory part"},
		{"backslash", `{"weight_map": {"a": "..\\x.safetensors"}}`, "directory part"},
		{"other extension", `{"weight_map": {"a": "x.bin"}}`, ".safetensors"},
		{"empty name", `{"weight_map": {"": "x.safetensors"}}`, "empty name"},
		{"trailing data", `{"weight_map": {"a": "x.safetensors"}} x`, "after the JSON"},
	}
	for _, tc := range bad {
		_, err := ParseShardIndex([]byte(tc.json), "index")
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func FuzzParseShardIndex(f *testing.F) {
	f.Add([]byte(`{"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../x.safetensors", "b": 3}}`))
	f.Add([]byte(`{"weight_map": {"a": "x.safetensors"}, "weight_map": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		wm, err := ParseShardIndex(data, "index")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if len(wm) == 0 {
			t.Fatal("empty weight map accepted")
		}
		for name, shard := range wm {
			if name == "" || checkShardName(shard) != nil {
				t.Fatalf("accepted %q -> %q", name, shard)
			}
		}
	})
}

// TestOpenShards reads two shards through their index, and checks that
// model.safetensors takes precedence over an index, as in transformers.
func TestOpenShards(t *testing.T) {
	dir := t.TempDir()
	a := F32Tensor("a", []int{2}, []float32{1, 2})
	b := F32Tensor("b", []int{1}, []float32{3})
	if err := WriteSafetensorsFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), []Tensor{a}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensorsFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), []Tensor{b}, nil); err != nil {
		t.Fatal(err)
	}
	index := `{"metadata": {"total_size": 12}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`
	if err := os.WriteFile(filepath.Join(dir, SafetensorsIndexName), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenShards(dir, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Names(), []string{"a", "b"}) || len(s.Files()) != 2 {
		t.Errorf("names %v, files %v", s.Names(), s.Files())
	}
	v, shape, err := s.Float64("b")
	if err != nil || !slices.Equal(v, []float64{3}) || !slices.Equal(shape, []int{1}) {
		t.Errorf("b: %v %v %v", v, shape, err)
	}
	if _, _, err := s.Float32("c"); !errors.Is(err, ErrMissingTensor) {
		t.Errorf("c: %v", err)
	}
	if info, file, ok := s.Info("a"); !ok || info.Len() != 2 || filepath.Base(file) != "model-00001-of-00002.safetensors" {
		t.Errorf("Info(a): %+v %s %v", info, file, ok)
	}
	s.Close()

	if err := WriteSafetensorsFile(filepath.Join(dir, SafetensorsName), []Tensor{b}, nil); err != nil {
		t.Fatal(err)
	}
	s, err = OpenShards(dir, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Names(), []string{"b"}) {
		t.Errorf("with model.safetensors: names %v", s.Names())
	}
	s.Close()

	if _, err := OpenShards(t.TempDir(), ReadOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory: %v", err)
	}
}
