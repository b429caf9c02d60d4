package mediator

import (
	"reflect"
	"sync"
	"testing"
)

func TestConfigStore(t *testing.T) {
	s := NewConfigStore(map[string]any{"a": "1", "nested": map[string]any{"k": "v"}})
	var calls [][2]map[string]any
	s.OnChange(func(old, new map[string]any) {
		_ = s.Get() // listeners may read the store
		calls = append(calls, [2]map[string]any{old, new})
	})
	if s.Apply(map[string]any{"a": "1", "nested": map[string]any{"k": "v"}}) {
		t.Error("equal config reported as changed")
	}
	if !s.Apply(map[string]any{"a": "2", "nested": map[string]any{"k": "v"}, "b": true}) {
		t.Error("change not reported")
	}
	if len(calls) != 1 || calls[0][0]["a"] != "1" || calls[0][1]["a"] != "2" {
		t.Fatalf("calls = %v", calls)
	}
	if got := ChangedKeys(calls[0][0], calls[0][1]); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("ChangedKeys = %v", got)
	}
	if got := ChangedKeys(map[string]any{"x": 1, "y": 2}, map[string]any{"y": 2}); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("removed key: %v", got)
	}
	// Get hands out copies: mutating one does not touch the store.
	g := s.Get()
	g["a"] = "mutated"
	g["nested"].(map[string]any)["k"] = "mutated"
	if s.Get()["a"] != "2" || s.Get()["nested"].(map[string]any)["k"] != "v" {
		t.Error("store changed through a Get copy")
	}
	// Apply(nil) empties the config.
	if !s.Apply(nil) || len(s.Get()) != 0 || len(calls) != 2 {
		t.Errorf("Apply(nil): %v, calls %d", s.Get(), len(calls))
	}
}

func TestConfigStoreConcurrent(t *testing.T) {
	s := NewConfigStore(nil)
	var mu sync.Mutex
	n := 0
	s.OnChange(func(old, new map[string]any) { mu.Lock(); n++; mu.Unlock() })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				s.Apply(map[string]any{"v": float64(i*100 + j)})
				_ = s.Get()["v"]
			}
		}(i)
	}
	wg.Wait()
	if n == 0 || n > 400 {
		t.Errorf("listener calls = %d", n)
	}
}
