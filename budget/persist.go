package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// MaxStateBytes bounds the state file read at start: 1 MiB holds the
// counters of far more than config.MaxBudgets budgets.
const MaxStateBytes = 1 << 20

// stateVersion is the state file's "v".
const stateVersion = 1

// stateFile is the state file's JSON.
type stateFile struct {
	V        int       `json:"v"`
	Saved    time.Time `json:"saved"`
	Counters []Counter `json:"counters"`
}

// Persister keeps a Local store in a state file: Load at start, MaybeSave
// after each charge (it writes at most every interval, in the background,
// one write at a time), Save at shutdown. Every write is atomic: a
// temporary file in the same directory, synced, then renamed over the file.
type Persister struct {
	path     string
	interval time.Duration
	store    *Local

	next   atomic.Int64 // Unix nanoseconds before which MaybeSave does nothing
	saving atomic.Bool  // a background write is running
	mu     sync.Mutex   // one write at a time
	wg     sync.WaitGroup
	// onError receives a background write's error (logged by the caller).
	onError func(error)
}

// NewPersister returns a persister of store at path, writing at most every
// interval; onError (may be nil) receives the errors of background writes.
func NewPersister(path string, interval time.Duration, store *Local, onError func(error)) *Persister {
	if onError == nil {
		onError = func(error) {}
	}
	return &Persister{path: path, interval: interval, store: store, onError: onError}
}

// Load adds the counters of the state file to the store, leaving out
// windows that ended before now (each counter's window is given by
// ends, which returns the zero time for a key no budget has any more:
// such counters are dropped too). A missing file is no error; one over
// MaxStateBytes or that does not parse is, and nothing is loaded.
func (p *Persister) Load(now time.Time, ends func(key string, start time.Time) time.Time) (int, error) {
	f, err := os.Open(p.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("budget: state file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxStateBytes+1))
	if err != nil {
		return 0, fmt.Errorf("budget: state file %s: %w", p.path, err)
	}
	if len(b) > MaxStateBytes {
		return 0, fmt.Errorf("budget: state file %s is larger than %d bytes", p.path, MaxStateBytes)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("budget: state file %s: %w", p.path, err)
	}
	if st.V != stateVersion {
		return 0, fmt.Errorf("budget: state file %s: version %d, want %d", p.path, st.V, stateVersion)
	}
	var keep []Counter
	for _, c := range st.Counters {
		if end := ends(c.Key, c.Start); end.After(now) && c.Value > 0 {
			keep = append(keep, c)
		}
	}
	p.store.Restore(keep)
	p.next.Store(now.Add(p.interval).UnixNano())
	return len(keep), nil
}

// MaybeSave writes the state file in the background when interval has
// passed since the last write and none is running.
func (p *Persister) MaybeSave(now time.Time) {
	if now.UnixNano() < p.next.Load() || !p.saving.CompareAndSwap(false, true) {
		return
	}
	p.next.Store(now.Add(p.interval).UnixNano())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.saving.Store(false)
		if err := p.Save(now); err != nil {
			p.onError(err)
		}
	}()
}

// Save writes the state file now (at shutdown), after any background
// write, and waits for it.
func (p *Persister) Save(now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.Marshal(stateFile{V: stateVersion, Saved: now.UTC(), Counters: p.store.Snapshot()})
	if err != nil {
		return fmt.Errorf("budget: state file: %w", err)
	}
	dir := filepath.Dir(p.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(p.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("budget: state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // nothing left once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("budget: state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("budget: state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("budget: state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		return fmt.Errorf("budget: state file: %w", err)
	}
	return nil
}

// Close waits for a background write and writes the file once more.
func (p *Persister) Close(now time.Time) error {
	p.wg.Wait()
	return p.Save(now)
}
