package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Parallel calls fn(0) … fn(n-1) on up to GOMAXPROCS goroutines and returns
// the first error. Once a call has failed no new call starts; the calls
// under way are waited for: Parallel returns only after every goroutine it
// started has exited.
func Parallel(n int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		failed   atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
