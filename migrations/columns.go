package migrations

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// 18.16 has no ADD COLUMN IF NOT EXISTS, so a file's ALTER TABLE ... ADD
// COLUMN is the one statement that a second run would fail on: after a run
// cut short between the ALTER and the record of its file, or on a node of a
// cluster that added the columns before another node failed. The runner
// makes it idempotent itself, on every server version: it asks
// system.columns which of the statement's columns the table has, and adds
// only the others (nothing, when it has them all).

var (
	reAddColumn    = regexp.MustCompile("(?is)^ADD\\s+COLUMN\\s+(IF\\s+NOT\\s+EXISTS\\s+)?([`\"]?\\w+[`\"]?)")
	reAlterPrefix  = regexp.MustCompile("(?is)^(ALTER\\s+TABLE\\s+([`\"]?\\w+[`\"]?)\\s+)(.*)$")
	reOtherClauses = regexp.MustCompile(`(?is)^(DROP|MODIFY|COMMENT|CLEAR|DELETE|UPDATE|FREEZE|ATTACH|DETACH|REPLACE|FETCH|MOVE|ORDER|RENAME)\s`)
)

// pendingColumns returns stmt without the ADD COLUMN clauses whose column
// table already has on conn's database, and whether anything is left to
// run. Any statement other than an ALTER TABLE made only of ADD COLUMN
// clauses is returned as it is.
func pendingColumns(ctx context.Context, conn Conn, stmt string) (string, bool, error) {
	m := reAlterPrefix.FindStringSubmatch(strings.TrimSpace(stmt))
	if m == nil {
		return stmt, true, nil
	}
	prefix, table := m[1], strings.Trim(m[2], "`\"")
	clauses := splitClauses(m[3])
	names := make([]string, len(clauses))
	for i, c := range clauses {
		cm := reAddColumn.FindStringSubmatch(c)
		if cm == nil || reOtherClauses.MatchString(c) {
			return stmt, true, nil
		}
		if cm[1] != "" {
			// The server checks IF NOT EXISTS itself.
			return stmt, true, nil
		}
		names[i] = strings.Trim(cm[2], "`\"")
	}
	var have []struct {
		Name string `ch:"name"`
	}
	if err := conn.Select(ctx, &have, `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?`, table); err != nil {
		return "", false, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	exists := make(map[string]bool, len(have))
	for _, c := range have {
		exists[c.Name] = true
	}
	var keep []string
	for i, c := range clauses {
		if !exists[names[i]] {
			keep = append(keep, c)
		}
	}
	if len(keep) == 0 {
		return "", false, nil
	}
	return prefix + strings.Join(keep, ", "), true, nil
}

// splitClauses splits an ALTER's clauses at the commas outside brackets
// and quotes: `ADD COLUMN a Array(String) DEFAULT f(1, 2), ADD COLUMN b
// String` is two clauses.
func splitClauses(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '\'', '`', '"':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
