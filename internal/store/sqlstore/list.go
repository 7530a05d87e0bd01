package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// keyType is the type of one sort column, which says how its cursor value is checked and
// bound.
type keyType int

const (
	keyText keyType = iota
	keyTime         // TimeLayout in the cursor, bound with Dialect.Time
	keyInt          // decimal in the cursor
)

// sortCol is one column of a list's order.
type sortCol struct {
	col string
	typ keyType
}

// listQuery describes one list call: a SELECT of cols from table, filtered by where
// (conditions with ? placeholders and their args), ordered by sort.
type listQuery struct {
	cols, table string
	where       []string
	args        []any
	sort        []sortCol
	desc        bool
}

func (l *listQuery) filter(cond string, arg any) {
	l.where = append(l.where, cond)
	l.args = append(l.args, arg)
}

// list runs l for one page: it fetches limit+1 rows to learn whether a next page exists,
// and the cursor is the sort key of the page's last item.
func list[T any](ctx context.Context, s *Store, l listQuery, o gatehouse.ListOptions,
	scan func(*sql.Rows) (T, error), keyOf func(T) []string) (gatehouse.Page[T], error) {
	limit := o.PageLimit()
	if o.After != "" {
		vals, err := decodeCursor(o.After, l.sort)
		if err != nil {
			return gatehouse.Page[T]{}, err
		}
		cols := make([]string, len(l.sort))
		marks := make([]string, len(l.sort))
		for i, c := range l.sort {
			cols[i], marks[i] = c.col, "?"
			if t, ok := vals[i].(time.Time); ok {
				vals[i] = s.d.Time(t)
			}
		}
		op := ">"
		if l.desc {
			op = "<"
		}
		// Row values compare lexicographically, which is exactly "after this key".
		l.where = append(l.where, fmt.Sprintf("(%s) %s (%s)", strings.Join(cols, ", "), op, strings.Join(marks, ", ")))
		l.args = append(l.args, vals...)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", l.cols, l.table)
	if len(l.where) > 0 {
		b.WriteString(" WHERE " + strings.Join(l.where, " AND "))
	}
	order := make([]string, len(l.sort))
	for i, c := range l.sort {
		order[i] = c.col
		if l.desc {
			order[i] += " DESC"
		}
	}
	fmt.Fprintf(&b, " ORDER BY %s LIMIT ?", strings.Join(order, ", "))
	args := append(l.args, limit+1)

	rows, err := s.db.QueryContext(ctx, s.q(b.String()), args...)
	if err != nil {
		return gatehouse.Page[T]{}, s.fail(ctx, fmt.Errorf("listing %s: %w", l.table, err))
	}
	defer rows.Close()
	page := gatehouse.Page[T]{Items: make([]T, 0, min(limit, 64))}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return gatehouse.Page[T]{}, s.fail(ctx, fmt.Errorf("listing %s: %w", l.table, err))
		}
		page.Items = append(page.Items, v)
	}
	if err := rows.Err(); err != nil {
		return gatehouse.Page[T]{}, s.fail(ctx, fmt.Errorf("listing %s: %w", l.table, err))
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = encodeCursor(keyOf(page.Items[limit-1]))
	}
	return page, nil
}

// scanDoc decodes rows of a single doc column.
func scanDoc[T any](kind string) func(*sql.Rows) (*T, error) {
	return func(rows *sql.Rows) (*T, error) {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		return decode[T](kind, doc)
	}
}

// encodeCursor makes an opaque cursor of a sort key: base64url of a JSON array of strings.
func encodeCursor(key []string) string {
	b, _ := json.Marshal(key) // a []string always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks a cursor against the sort columns it must describe and returns the
// values to bind: strings, time.Times or int64s by column type.
func decodeCursor(cursor string, cols []sortCol) ([]any, error) {
	bad := &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid list options",
		Fields: []gatehouse.FieldError{{Field: "after", Message: "is not a cursor returned by this list"}}}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		bad.Err = err
		return nil, bad
	}
	var key []string
	if err := json.Unmarshal(raw, &key); err != nil {
		bad.Err = err
		return nil, bad
	}
	if len(key) != len(cols) {
		bad.Err = fmt.Errorf("cursor has %d values, want %d", len(key), len(cols))
		return nil, bad
	}
	vals := make([]any, len(key))
	for i, c := range cols {
		switch c.typ {
		case keyText:
			vals[i] = key[i]
		case keyTime:
			t, err := time.Parse(TimeLayout, key[i])
			if err != nil {
				bad.Err = err
				return nil, bad
			}
			vals[i] = t
		case keyInt:
			n, err := strconv.ParseInt(key[i], 10, 64)
			if err != nil {
				bad.Err = err
				return nil, bad
			}
			vals[i] = n
		}
	}
	return vals, nil
}

// cursorTime formats a time for a cursor.
func cursorTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ceilMicro rounds t up to the microsecond, so that comparing stored (microsecond) times
// with it gives the same answer as comparing the exact times.
func ceilMicro(t time.Time) time.Time {
	u := t.UTC().Truncate(time.Microsecond)
	if u.Before(t) {
		u = u.Add(time.Microsecond)
	}
	return u
}

// dbTime scans a time column whatever the driver returns for it: time.Time (PostgreSQL) or
// TimeLayout text (SQLite).
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case time.Time:
		d.t = v.UTC()
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parsing stored time %q: %w", s, err)
	}
	d.t = t.UTC()
	return nil
}
