package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of the listener.
const (
	minBackoff     = 100 * time.Millisecond
	maxBackoff     = 10 * time.Second
	connectTimeout = 10 * time.Second
)

// listener owns the LISTEN connection and its goroutine, which runs until close.
type listener struct {
	cfg    *pgx.ConnConfig
	schema string
	hub    *notify.Hub
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	pid    atomic.Uint32 // backend process of the current connection, for tests
}

// listen connects and LISTENs before returning, then hears notices in the background.
func listen(ctx context.Context, cfg *pgx.ConnConfig, schema string, hub *notify.Hub, log *slog.Logger) (*listener, error) {
	l := &listener{cfg: cfg, schema: schema, hub: hub, log: log, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "cannot reach the postgres store",
			Err: fmt.Errorf("listening for changes: %w", err)}
	}
	// The goroutine outlives Open's ctx: it stops at close.
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		closeConn(conn)
		return nil, err
	}
	l.pid.Store(conn.PgConn().PID())
	return conn, nil
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			l.deliver(n.Channel, n.Payload)
			continue
		}
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("postgres change listener lost its connection; reconnecting", "err", err)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		// Whatever was committed while we were away went unheard: subscribers reload.
		l.hub.Publish(gatehouse.Change{Resync: true})
	}
}

// reconnect retries with exponential backoff until it is connected (or ctx ends: nil).
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	delay := minBackoff
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		conn, err := l.connect(cctx)
		cancel()
		if err == nil {
			l.log.Info("postgres change listener reconnected")
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		delay = min(2*delay, maxBackoff)
		l.log.Warn("postgres change listener cannot reconnect", "err", err, "retry_in", delay)
		timer.Reset(delay)
	}
}

func (l *listener) deliver(channel, payload string) {
	if channel != Channel {
		return
	}
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		l.log.Warn("ignoring malformed change notice", "payload", payload, "err", err)
		return
	}
	if n.Schema != l.schema {
		return // another installation sharing this database
	}
	l.hub.Publish(n.Change)
}

// close stops the goroutine and waits for it, which closes the connection.
func (l *listener) close() {
	l.cancel()
	<-l.done
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the connection is being abandoned; nothing to do on error
}
