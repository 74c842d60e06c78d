package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// Cache stores answers on disk, one JSON file per request under
// DIR/KEY[:2]/KEY.json, written atomically: an interrupted run leaves whole
// entries only. A zero Cache (Dir "") stores nothing.
type Cache struct{ Dir string }

// cacheEntry is the stored form of an answer. It holds the model and the
// vote for a reader's benefit; the API key is never stored.
type cacheEntry struct {
	Key    string `json:"key"`
	Model  string `json:"model"`
	Vote   int    `json:"vote"`
	Answer Answer `json:"answer"`
}

func (c Cache) path(key string) string { return filepath.Join(c.Dir, key[:2], key+".json") }

// Get returns the cached answer of key. A missing entry is (_, false, nil);
// an unreadable one is an error naming the file.
func (c Cache) Get(key string) (Answer, bool, error) {
	if c.Dir == "" {
		return Answer{}, false, nil
	}
	p := c.path(key)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Answer{}, false, nil
	}
	if err != nil {
		return Answer{}, false, fmt.Errorf("judge cache: %w", err)
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil || e.Key != key {
		return Answer{}, false, fmt.Errorf("judge cache: %s is not a cache entry of key %s (delete it to ask again)", p, key)
	}
	return e.Answer, true, nil
}

// Put stores the answer of key.
func (c Cache) Put(key, model string, vote int, a Answer) error {
	if c.Dir == "" {
		return nil
	}
	b, err := json.Marshal(cacheEntry{Key: key, Model: model, Vote: vote, Answer: a})
	if err != nil {
		return err
	}
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("judge cache: %w", err)
	}
	return atomicfile.WriteBytes(p, append(b, '\n'))
}
