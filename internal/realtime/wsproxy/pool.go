package wsproxy

import "sync"

// writerPool writes queued frames to clients. A connection is scheduled when
// its queue goes from empty to non-empty and is drained by one worker at a
// time, so frames stay in order without a writer goroutine per connection,
// and fan-out deliveries (called under the channel lock) never block.
type writerPool struct {
	mu     sync.Mutex
	cond   sync.Cond
	ready  []*conn
	head   int
	closed bool
	wg     sync.WaitGroup
}

func newWriterPool(workers int) *writerPool {
	wp := &writerPool{}
	wp.cond.L = &wp.mu
	wp.wg.Add(workers)
	for range workers {
		go wp.work()
	}
	return wp
}

// schedule queues c for a worker; the caller has set c.writing.
func (wp *writerPool) schedule(c *conn) {
	wp.mu.Lock()
	if wp.closed {
		wp.mu.Unlock()
		// Workers are gone: the proxy is closing and tears c down itself.
		return
	}
	wp.ready = append(wp.ready, c)
	wp.mu.Unlock()
	wp.cond.Signal()
}

func (wp *writerPool) work() {
	defer wp.wg.Done()
	for {
		wp.mu.Lock()
		for wp.head == len(wp.ready) && !wp.closed {
			wp.cond.Wait()
		}
		if wp.closed {
			wp.mu.Unlock()
			return
		}
		c := wp.ready[wp.head]
		wp.ready[wp.head] = nil
		wp.head++
		if wp.head == len(wp.ready) {
			// Reuse the backing array once drained, so the FIFO does not grow.
			wp.ready, wp.head = wp.ready[:0], 0
		}
		wp.mu.Unlock()
		c.flush()
	}
}

func (wp *writerPool) close() {
	wp.mu.Lock()
	wp.closed = true
	wp.ready = nil
	wp.mu.Unlock()
	wp.cond.Broadcast()
	wp.wg.Wait()
}
