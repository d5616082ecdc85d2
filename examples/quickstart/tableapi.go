package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	_ "modernc.org/sqlite" // pure Go: no cgo, nothing to install
)

// TableAPI is a small DreamFactory-style table API over SQLite:
//
//	GET    /api/v2/db/_table/{table}        {"resource": [records]}   (?filter=column=value, ?limit=n)
//	POST   /api/v2/db/_table/{table}        a record or {"resource": [records]} -> 201 {"resource": [created]}
//	GET    /api/v2/db/_table/{table}/{id}   a record
//	PATCH  /api/v2/db/_table/{table}/{id}   the fields to change -> the record
//	DELETE /api/v2/db/_table/{table}/{id}   {"id": id}
//
// Errors use DreamFactory's body, {"error":{"code":...,"message":...}}.
type TableAPI struct {
	db      *sql.DB
	columns map[string][]string // table -> columns, id first
}

const schema = `
CREATE TABLE IF NOT EXISTS customer (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS "order" (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, item TEXT, amount REAL);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT, table_name TEXT, record_id INTEGER,
  user TEXT, status INTEGER, at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
`

const sample = `
INSERT INTO customer (name, email, created_at) VALUES
  ('Ada Lovelace', 'ada@example.com', '1843-07-01T00:00:00Z'),
  ('Alan Turing', 'alan@example.com', '1936-05-28T00:00:00Z'),
  ('Edsger Dijkstra', 'ewd@example.com', '1959-12-01T00:00:00Z');
INSERT INTO "order" (customer_id, item, amount) VALUES
  (1, 'Analytical Engine punch cards', 120.5), (1, 'Notes on the Engine', 12), (2, 'Bombe rotor', 310);
`

// OpenTableAPI opens the database file, creating it with sample data if it does not exist.
func OpenTableAPI(path string) (*TableAPI, error) {
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the schema in %s: %w", path, err)
	}
	if fresh {
		if _, err := db.Exec(sample); err != nil {
			db.Close()
			return nil, fmt.Errorf("adding the sample data: %w", err)
		}
	}
	api := &TableAPI{db: db, columns: map[string][]string{}}
	for _, table := range []string{"customer", "order", "audit"} {
		rows, err := db.Query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			db.Close()
			return nil, err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				db.Close()
				return nil, err
			}
			api.columns[table] = append(api.columns[table], c)
		}
		rows.Close()
	}
	return api, nil
}

// Close closes the database.
func (a *TableAPI) Close() error { return a.db.Close() }

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

// Handle serves the table API.
func (a *TableAPI) Handle(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	status, v, err := a.route(ctx)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{500, err.Error()}
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": ae.status, "message": ae.msg}})
		ctx.SetStatusCode(ae.status)
		ctx.SetBody(b)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		ctx.Error(err.Error(), 500)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetBody(b)
}

func (a *TableAPI) route(ctx *fasthttp.RequestCtx) (int, any, error) {
	rest, ok := strings.CutPrefix(string(ctx.Path()), "/api/v2/db/_table/")
	if !ok {
		return 0, nil, fail(404, "Not Found")
	}
	table, id, hasID := strings.Cut(strings.Trim(rest, "/"), "/")
	cols, ok := a.columns[table]
	if !ok {
		return 0, nil, fail(404, "no table %q", table)
	}
	method := string(ctx.Method())
	if !hasID {
		switch method {
		case "GET":
			return a.list(ctx, table, cols)
		case "POST":
			return a.create(ctx, table, cols)
		}
		return 0, nil, fail(405, "%s is not allowed on a table", method)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, nil, fail(400, "the id %q is not a number", id)
	}
	switch method {
	case "GET":
		rec, err := a.get(table, cols, n)
		return 200, rec, err
	case "PATCH":
		return a.update(ctx, table, cols, n)
	case "DELETE":
		res, err := a.db.Exec(`DELETE FROM `+quote(table)+` WHERE id = ?`, n)
		if err != nil {
			return 0, nil, err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return 0, nil, fail(404, "no record %d in %s", n, table)
		}
		return 200, map[string]any{"id": n}, nil
	}
	return 0, nil, fail(405, "%s is not allowed on a record", method)
}

func (a *TableAPI) list(ctx *fasthttp.RequestCtx, table string, cols []string) (int, any, error) {
	q := `SELECT ` + columnList(cols) + ` FROM ` + quote(table)
	var args []any
	if f := string(ctx.QueryArgs().Peek("filter")); f != "" {
		col, val, ok := strings.Cut(strings.Trim(f, "()"), "=")
		col = strings.TrimSpace(col)
		if !ok || !slices.Contains(cols, col) {
			return 0, nil, fail(400, "filter must be column=value with a column of %s", table)
		}
		q += ` WHERE ` + quote(col) + ` = ?`
		args = append(args, strings.Trim(strings.TrimSpace(val), `'"`))
	}
	q += ` ORDER BY id`
	if l := ctx.QueryArgs().GetUintOrZero("limit"); l > 0 {
		q += ` LIMIT ` + strconv.Itoa(l)
	}
	rows, err := a.db.Query(q, args...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		rec, err := scanRecord(rows, cols)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, rec)
	}
	return 200, map[string]any{"resource": out}, rows.Err()
}

func (a *TableAPI) get(table string, cols []string, id int64) (map[string]any, error) {
	rows, err := a.db.Query(`SELECT `+columnList(cols)+` FROM `+quote(table)+` WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, fail(404, "no record %d in %s", id, table)
	}
	return scanRecord(rows, cols)
}

// records decodes a record or {"resource": [records]}.
func records(body []byte) ([]map[string]any, error) {
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fail(400, "the body is not a JSON object")
	}
	list, ok := v["resource"].([]any)
	if !ok {
		return []map[string]any{v}, nil
	}
	var out []map[string]any
	for _, item := range list {
		rec, ok := item.(map[string]any)
		if !ok {
			return nil, fail(400, "resource must be a list of records")
		}
		out = append(out, rec)
	}
	return out, nil
}

func (a *TableAPI) create(ctx *fasthttp.RequestCtx, table string, cols []string) (int, any, error) {
	recs, err := records(ctx.PostBody())
	if err != nil {
		return 0, nil, err
	}
	tx, err := a.db.Begin()
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var ids []int64
	for _, rec := range recs {
		var names []string
		var args []any
		for k, v := range rec {
			if k == "id" {
				continue
			}
			if !slices.Contains(cols, k) {
				return 0, nil, fail(400, "%s has no column %q", table, k)
			}
			names = append(names, quote(k))
			args = append(args, v)
		}
		q := `INSERT INTO ` + quote(table) + ` DEFAULT VALUES`
		if len(names) > 0 {
			q = `INSERT INTO ` + quote(table) + ` (` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)-1) + `)`
		}
		res, err := tx.Exec(q, args...)
		if err != nil {
			return 0, nil, fail(400, "%v", err)
		}
		id, _ := res.LastInsertId()
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for _, id := range ids {
		rec, err := a.get(table, cols, id)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, rec)
	}
	return 201, map[string]any{"resource": out}, nil
}

func (a *TableAPI) update(ctx *fasthttp.RequestCtx, table string, cols []string, id int64) (int, any, error) {
	recs, err := records(ctx.PostBody())
	if err != nil {
		return 0, nil, err
	}
	if len(recs) != 1 {
		return 0, nil, fail(400, "PATCH takes one record")
	}
	var sets []string
	var args []any
	for k, v := range recs[0] {
		if k == "id" {
			continue
		}
		if !slices.Contains(cols, k) {
			return 0, nil, fail(400, "%s has no column %q", table, k)
		}
		sets = append(sets, quote(k)+` = ?`)
		args = append(args, v)
	}
	if len(sets) > 0 {
		res, err := a.db.Exec(`UPDATE `+quote(table)+` SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
		if err != nil {
			return 0, nil, fail(400, "%v", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return 0, nil, fail(404, "no record %d in %s", id, table)
		}
	}
	rec, err := a.get(table, cols, id)
	return 200, rec, err
}

func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

func scanRecord(rows *sql.Rows, cols []string) (map[string]any, error) {
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	rec := make(map[string]any, len(cols))
	for i, c := range cols {
		if b, ok := vals[i].([]byte); ok {
			vals[i] = string(b)
		}
		rec[c] = vals[i]
	}
	return rec, nil
}
