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
	return ParallelWidth(runtime.GOMAXPROCS(0), n, fn)
}

// ParallelWidth is Parallel on up to width goroutines. More goroutines than
// processors pay when the calls wait for I/O or are few and uneven: three
// equal calls on two processors take two rounds on two goroutines and about
// one and a half on three.
func ParallelWidth(width, n int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		failed   atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(max(width, 1), n) {
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
