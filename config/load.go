package config

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// decode reads the YAML document b into c and reports every problem of its
// shape at once, each a FieldError with its path and its line and column:
// YAML syntax, unknown fields (with the closest known name), a value of the
// wrong kind (a list where a section goes), a value its type refuses (a
// duration "5 s"), and a key written twice. Fields with a problem are left
// unset so the rest can still be decoded (and validated by the caller).
// The positions come from go.yaml.in/yaml/v3's node tree; the values go
// through encoding/json, so the json tags and UnmarshalJSON methods of the
// config types stay the one definition of the format.
func decode(b []byte, c *Config) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, syntaxError(err)
	}
	if len(doc.Content) == 0 { // an empty file
		return nil, nil
	}
	root := doc.Content[0]
	var p problems
	v := (&shapeWalker{p: &p}).walk(root, reflect.TypeFor[Config](), "")
	if v == nil {
		return root, errors.Join(p.errs...)
	}
	j, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(j, c)
	}
	if err != nil { // the walk checked every value against its type
		p.errs = append(p.errs, &FieldError{Reason: err.Error()})
	}
	return root, errors.Join(p.errs...)
}

// yamlLineRE finds the line yaml.v3 names in a syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError turns yaml.v3's error into a FieldError with its line.
func syntaxError(err error) error {
	msg := err.Error()
	fe := &FieldError{Reason: "YAML syntax: " + msg}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fe.Reason = "YAML syntax: " + m[2]
		fe.Line, _ = strconv.Atoi(m[1])
		if strings.HasPrefix(m[2], "did not find expected") && fe.Line > 0 {
			// yaml.v3 names the 0-based line of the unclosed [ or { here
			// (parser errors with a context mark).
			fe.Line++
			fe.Reason += " (in the [...] or {...} that starts on this line)"
		}
	}
	return fe
}

// shapeWalker checks a YAML node tree against a Go type and builds the
// value encoding/json will decode.
type shapeWalker struct{ p *problems }

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// badAt records a problem at path, at node n's position.
func (w *shapeWalker) badAt(n *yaml.Node, path, format string, a ...any) {
	w.p.errs = append(w.p.errs, &FieldError{Path: path, Line: n.Line, Column: n.Column, Reason: fmt.Sprintf(format, a...)})
}

// walk returns the JSON value of n as a t, or nil (with a problem
// recorded) when n cannot be one.
func (w *shapeWalker) walk(n *yaml.Node, t reflect.Type, path string) any {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		v := w.generic(n)
		j, _ := json.Marshal(v)
		if err := json.Unmarshal(j, reflect.New(t).Interface()); err != nil {
			w.badAt(n, path, "%v", err)
			return nil
		}
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.badAt(n, path, "want a mapping (a section of fields), got %s", kindName(n))
			return nil
		}
		return w.structValue(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.badAt(n, path, "want a list, got %s", kindName(n))
			return nil
		}
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			out = append(out, w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)))
		}
		return out
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.badAt(n, path, "want a mapping, got %s", kindName(n))
			return nil
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			out[k] = w.walk(n.Content[i+1], t.Elem(), join(path, k))
		}
		return out
	case reflect.Interface:
		return w.generic(n)
	}
	if n.Kind != yaml.ScalarNode {
		w.badAt(n, path, "want a %s, got %s", scalarName(t), kindName(n))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return n.Value // 4 and true are strings where a string goes
	case reflect.Bool:
		var b bool
		if err := n.Decode(&b); err != nil || n.Tag != "!!bool" {
			w.badAt(n, path, "want true or false, got %q", n.Value)
			return nil
		}
		return b
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseInt(n.Value, 0, t.Bits())
		if err != nil || n.Tag != "!!int" {
			w.badAt(n, path, "want a whole number, got %q", n.Value)
			return nil
		}
		if t.Kind() >= reflect.Uint && i < 0 {
			w.badAt(n, path, "want a number of 0 or more, got %q", n.Value)
			return nil
		}
		return i
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || (n.Tag != "!!int" && n.Tag != "!!float") {
			w.badAt(n, path, "want a number, got %q", n.Value)
			return nil
		}
		return f
	}
	return w.generic(n)
}

// structValue checks a mapping against struct t's fields: unknown fields
// (with the closest known name) and keys written twice are problems.
func (w *shapeWalker) structValue(n *yaml.Node, t reflect.Type, path string) map[string]any {
	fields := jsonFields(t)
	out := map[string]any{}
	seen := map[string]*yaml.Node{}
	pairs, merged := mergedPairs(n)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		fp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			if i < merged { // the mapping's own key, twice
				w.badAt(k, fp, "written twice (first at line %d:%d)", first.Line, first.Column)
			} // else merged (<<): the mapping's own key, or the first merge, wins, as in YAML
			continue
		}
		seen[k.Value] = k
		ft, ok := fields[k.Value]
		if !ok {
			w.badAt(k, fp, "unknown field%s", suggest(k.Value, fields))
			continue
		}
		if val := w.walk(v, ft, fp); val != nil {
			out[k.Value] = val
		}
	}
	return out
}

// mergedPairs is n's keys and values with YAML merge keys ("<<: *base")
// expanded: the mapping's own pairs first, then the merged ones (returned
// from index merged on), so that an own key wins over a merged one.
func mergedPairs(n *yaml.Node) (pairs []*yaml.Node, merged int) {
	var extra []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag != "!!merge" {
			pairs = append(pairs, k, v)
			continue
		}
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, src := range srcs {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind == yaml.MappingNode {
				sub, _ := mergedPairs(src)
				extra = append(extra, sub...)
			}
		}
	}
	return append(pairs, extra...), len(pairs)
}

// generic converts n to a JSON value by its YAML tags.
func (w *shapeWalker) generic(n *yaml.Node) any {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = w.generic(n.Content[i+1])
		}
		return out
	case yaml.SequenceNode:
		out := []any{}
		for _, e := range n.Content {
			out = append(out, w.generic(e))
		}
		return out
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	return v
}

// jsonFields maps the JSON names of struct t's fields (embedded structs
// flattened, as encoding/json does) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// suggest is "; did you mean "x"?" for the known field closest to name, or
// the list of known fields when none is close.
func suggest(name string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	slices.Sort(known)
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(1, min(len(name), len(best))/3) {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return fmt.Sprintf("; known fields here: %s", strings.Join(known, ", "))
}

// editDistance is the optimal string alignment distance of a and b
// (bytes): insertions, deletions, substitutions and swaps of two neighbours
// ("prot" for "port") each count 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	}
	return "number"
}

// pathSegRE splits a field path ("chains[0].targets[1].model") into its
// names and indexes.
var pathSegRE = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// position finds the line and column of path in the tree under root: the
// value at path (the key, for a section or a list), or the closest
// enclosing one when path names a field the file does not set (a required
// field left out).
func position(root *yaml.Node, path string) (line, col int) {
	if root == nil {
		return 0, 0
	}
	n, line, col := root, root.Line, root.Column
	for _, seg := range pathSegRE.FindAllString(path, -1) {
		key, next := n, (*yaml.Node)(nil)
		if strings.HasPrefix(seg, "[") {
			i, _ := strconv.Atoi(strings.Trim(seg, "[]"))
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				key, next = n.Content[i], n.Content[i]
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					key, next = n.Content[i], n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line, col
		}
		if next.Kind == yaml.ScalarNode {
			line, col = next.Line, next.Column
		} else {
			line, col = key.Line, key.Column
		}
		n = next
	}
	return line, col
}

// locate gives every FieldError of err without a line the position of its
// path in root.
func locate(err error, root *yaml.Node) error {
	for _, e := range joined(err) {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line == 0 && root != nil {
			fe.Line, fe.Column = position(root, fe.Path)
		}
	}
	return err
}

// hasControl reports a control character (C0, DEL or C1) in s.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) })
}

// validateControlChars refuses a control character (a tab, a newline, an
// escape) in any string of the configuration: names, models, headers and
// paths end up in HTTP headers, metric labels and logs, where one would
// break the line or the exposition format.
func (c *Config) validateControlChars(p *problems) {
	reported := map[string]bool{}
	for _, e := range p.errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			reported[fe.Path] = true
		}
	}
	var visit func(v reflect.Value, path string)
	visit = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				visit(v.Elem(), path)
			}
		case reflect.Struct:
			t := v.Type()
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" {
					continue
				}
				fp := path
				if !(f.Anonymous && name == "") {
					if name == "" {
						name = f.Name
					}
					fp = join(path, name)
				}
				visit(v.Field(i), fp)
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				visit(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Map:
			iter := v.MapRange()
			for iter.Next() {
				k := fmt.Sprint(iter.Key().Interface())
				if hasControl(k) {
					p.bad(path, "key %q has a control character", k)
				}
				visit(iter.Value(), join(path, k))
			}
		case reflect.String:
			if hasControl(v.String()) && !reported[path] {
				p.bad(path, "%q has a control character (tab, newline, escape...): not allowed", v.String())
			}
		}
	}
	visit(reflect.ValueOf(c).Elem(), "")
}
