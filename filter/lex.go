package filter

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tEOF  tokKind = iota
	tWord         // keywords, names, numbers, addresses
	tOp           // ( ) [ ] : + - * / & | << >> = == != < <= > >= ! && ||
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// lex splits an expression into tokens. A word is a run of letters,
// digits and . - : / _ that does not start an operator, so addresses
// (198.18.0.1, 2001:db8::1, 02:42:ac:11:00:02, 198.18.0.0/16) and names
// with dashes (tcp-syn, icmp-echo) are one token. A '-' inside a word
// binds to it; write spaces around a minus to subtract.
func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case isWordStart(c) || c == ':' && i+1 < len(s) && s[i+1] == ':' && !insideBracket(out):
			// (an IPv6 literal may start with "::")
			j := i
			for j < len(s) && isWordChar(s[j]) {
				// ':' belongs to addresses, but "tcp[13:1]" uses it as an
				// operator: inside brackets a ':' followed by a digit run
				// that ends the bracket is the size separator.
				if s[j] == ':' && insideBracket(out) {
					break
				}
				j++
			}
			out = append(out, token{tWord, s[i:j], i})
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "<<", ">>", "==", "!=", "<=", ">=", "&&", "||":
				out = append(out, token{tOp, two, i})
				i += 2
				continue
			}
			if strings.ContainsRune("()[]:+-*/&|=<>!", rune(c)) {
				out = append(out, token{tOp, string(c), i})
				i++
				continue
			}
			return nil, fmt.Errorf("filter: unexpected %q at offset %d", c, i)
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\\'
}

func isWordChar(c byte) bool {
	return isWordStart(c) || c == '.' || c == '-' || c == ':' || c == '/'
}

// insideBracket reports whether the tokens so far leave a '[' open.
func insideBracket(toks []token) bool {
	depth := 0
	for _, t := range toks {
		switch t.text {
		case "[":
			depth++
		case "]":
			depth--
		}
	}
	return depth > 0
}
