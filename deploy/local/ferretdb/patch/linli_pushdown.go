// Linli's addition to FerretDB's SQLite backend, copied into internal/backends/sqlite at build
// time (see services/ops/infra/install.py). FerretDB v1 answers only a filter that is exactly
// {_id: <string or ObjectID>} from an index; everything else scans the whole table. Here a
// filter is narrowed in SQL by one equality the indexes can answer:
//
//   - an _id equality, whatever else the filter holds ({_id: x, status: "queued"});
//   - else a plain string equality on the first field of a secondary index
//     ({resident_ref: r} with an index on (resident_ref, created_at)). MongoDB's equality
//     also matches an array holding the value, so the SQL takes those rows too (JSON arrays
//     are the texts from "[" up to, not including, "\").
//
// The SQL only narrows: the handler still applies the whole filter to every row returned, so
// the results are the same as without it. Values are pushed down only when they are plain
// (ASCII letters, digits, "-_.:"), whose JSON text SQLite and FerretDB write alike.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
)

// linliPushdown returns the SQL condition (with "?" for the value) and the value, or "".
func linliPushdown(meta *metadata.Collection, filter *types.Document) (string, any) {
	if filter == nil || filter.Len() == 0 {
		return "", nil
	}

	if v, err := filter.Get("_id"); err == nil {
		switch v.(type) {
		case string, types.ObjectID:
			return metadata.IDColumn + " = ?", v
		}
	}

	if meta == nil {
		return "", nil
	}

	for _, index := range meta.Settings.Indexes {
		if len(index.Key) == 0 || strings.ContainsAny(index.Key[0].Field, ".$") {
			continue
		}

		field := index.Key[0].Field
		v, err := filter.Get(field)
		if err != nil {
			continue
		}

		s, ok := v.(string)
		if !ok || !linliPlain(s) {
			continue
		}

		column := fmt.Sprintf("%s->%q", metadata.DefaultColumn, field)
		cond := fmt.Sprintf(`(%s = ? OR (%s >= '[' AND %s < '\'))`, column, column, column)

		return cond, s
	}

	return "", nil
}

func linliPlain(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}

	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '_', r == '.', r == ':':
		default:
			return false
		}
	}

	return true
}
