package txgatesql

// countPlaceholders counts the ? placeholders of a MariaDB statement outside
// '...' and "..." string literals, `...` identifiers, -- and # line comments
// and /* */ comments (MariaDB's /*! ... */ executable comments count: their
// text is SQL). It returns -1 when it cannot be sure: a backslash inside a
// string literal (an escape, unless sql_mode has NO_BACKSLASH_ESCAPES), or
// an unterminated literal or comment.
func countPlaceholders(q string) int {
	n := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '?':
			n++
		case '\'', '"', '`':
			// A doubled quote inside stays inside; a backslash makes it uncertain.
			for i++; ; i++ {
				if i >= len(q) {
					return -1
				}
				if q[i] == '\\' && c != '`' {
					return -1
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c {
						i++
						continue
					}
					break
				}
			}
		case '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case '-':
			// "-- " (dash dash, then a space or control character) starts a comment.
			if i+2 < len(q) && q[i+1] == '-' && q[i+2] <= ' ' || i+2 == len(q) && q[i+1] == '-' {
				for i < len(q) && q[i] != '\n' {
					i++
				}
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				if i+2 < len(q) && (q[i+2] == '!' || q[i+2] == 'M' && i+3 < len(q) && q[i+3] == '!') {
					i++ // executable comment: scan its body as SQL; its "*/" is skipped below
					continue
				}
				end := -1
				for j := i + 2; j+1 < len(q); j++ {
					if q[j] == '*' && q[j+1] == '/' {
						end = j + 1
						break
					}
				}
				if end < 0 {
					return -1
				}
				i = end
			}
		}
	}
	return n
}
