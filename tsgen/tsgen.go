// Package tsgen writes TypeScript declarations for a hub from its [hub.Description]:
// an interface per Go struct its methods take, return or send (as encoding/json
// writes them), and typed views of a connection, for the bundled client
// (hubbub-client) and for @microsoft/signalr, whose invoke, send, stream and on
// only accept the hub's method names with their argument and result types.
//
// The views are types only, with no code to ship: a page or an app declares its
// connection with them, from TypeScript or from JavaScript checked by tsc:
//
//	/** @type {import('./chat').ChatConnection} */
//	const conn = Hubbub.connect('/hubs/chat');
//	const welcome = await conn.invoke('Authenticate', nick, password); // a Welcome
//	conn.on('message', (m) => show(m.from, m.text)); // m is a Message
//
// cmd/hubbub's "gen ts" subcommand runs it on the demo server's hubs.
//
// Go types map as encoding/json encodes them: numbers (and json.Number) to
// number, []byte to string | Uint8Array (base64 under JSON, bytes under
// MessagePack), time.Time and encoding.TextMarshaler types to string, maps to
// Record<string, V>, a pointer to T | null, other json.Marshaler types and
// interfaces to unknown. Struct fields honour their json tags (the name, "-",
// omitempty and omitzero as optional, ",string"), and embedded structs are
// flattened with encoding/json's rules; the fields of an embedded pointer are
// optional, as a nil one leaves them out. A nil slice or map encodes as null, but
// they are typed T[] and Record<string, V>: hubs should send empty ones.
//
// A named map or slice that contains itself (type Tree map[string]Tree) is
// declared by name. A type whose pointer only has MarshalText is string | its own
// encoding: encoding/json calls it only where the value is addressable.
// JavaScript's number holds integers up to 2^53 exactly: an int64 or uint64 that
// may go beyond (an ID, a snowflake) should be tagged ",string", and is a string.
package tsgen

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Options configure the output. The zero value of every field means its default.
type Options struct {
	// Command is said in each file's header as how it was made. Default
	// "github.com/hubbub-go/hubbub/tsgen".
	Command string
	// ClientModule is the module the bundled client's types are imported from.
	// Default "hubbub-client" (its npm package name).
	ClientModule string
	// SignalRModule is the module of @microsoft/signalr's types. Default
	// "@microsoft/signalr".
	SignalRModule string
}

func (o Options) withDefaults() Options {
	if o.Command == "" {
		o.Command = "github.com/hubbub-go/hubbub/tsgen"
	}
	if o.ClientModule == "" {
		o.ClientModule = "hubbub-client"
	}
	if o.SignalRModule == "" {
		o.SignalRModule = "@microsoft/signalr"
	}
	return o
}

// File is one generated file.
type File struct {
	Name string // "chat.d.ts"
	Data []byte
}

// Generate returns the files for one hub, named after it with '-' for what is not
// a letter, a digit, '.', '-' or '_' (hub "chat"):
//
//   - chat.d.ts: the interfaces of the Go types; ChatMethods and ChatStreams (each
//     server method's arguments, and its result or streamed item);
//     ChatClientMethods (each client method's arguments); and ChatConnection,
//     the bundled client's HubConnection typed for the hub;
//   - chat.signalr.d.ts: ChatSignalRConnection, @microsoft/signalr's
//     HubConnection typed for the hub (with ChatSignalRMethods and
//     ChatSignalRStreams, whose client-to-server streams are Subjects). It
//     imports @microsoft/signalr, so it is a file of its own: apps on the bundled
//     client need not install it.
//
// The output depends on the description only: sorted, without dates.
func Generate(d hub.Description, opts Options) ([]File, error) {
	opts = opts.withDefaults()
	if d.Hub == "" {
		return nil, fmt.Errorf("tsgen: the description has no hub name")
	}
	g := &generator{opts: opts, prefix: exportName(d.Hub), names: map[reflect.Type]string{}, index: map[reflect.Type]int{}, expanding: map[reflect.Type]bool{}}
	calls, err := g.signatures(d)
	if err != nil {
		return nil, fmt.Errorf("tsgen: hub %q: %w", d.Hub, err)
	}
	types, err := g.declarations()
	if err != nil {
		return nil, fmt.Errorf("tsgen: hub %q: %w", d.Hub, err)
	}
	return []File{
		{Name: fileBase(d.Hub) + ".d.ts", Data: g.typesFile(d, types, calls)},
		{Name: fileBase(d.Hub) + ".signalr.d.ts", Data: g.signalRFile(d, calls)},
	}, nil
}

// fileBase is the hub's name with what is not a letter, a digit, '.', '-' or '_'
// as '-': a name is any string ("api/v1"), a file name stays in its directory.
func fileBase(hub string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r) {
			return r
		}
		return '-'
	}, hub)
}

// generator gathers the named Go types the signatures reach.
type generator struct {
	opts   Options
	prefix string                  // "Chat" for hub "chat"
	names  map[reflect.Type]string // set by declarations
	index  map[reflect.Type]int    // into order
	order  []reflect.Type          // named structs to declare, as first reached
	// expanding are the named maps, slices and arrays being written out inline; one
	// met again inside itself is recursive and declared by name (Tree
	// map[string]Tree) instead of expanded without end.
	expanding map[reflect.Type]bool
}

// signature is one method with its TypeScript types worked out.
type signature struct {
	d      hub.MethodDescription
	args   []string // each argument's TypeScript type
	upload []bool   // the argument is a client-to-server stream
	result string   // "void" when none
}

// callSet is a hub's methods and its client methods, with their TypeScript types.
type callSet struct{ server, client []signature }

func (g *generator) signatures(d hub.Description) (*callSet, error) {
	server, err := g.signaturesOf(d.Methods)
	if err != nil {
		return nil, err
	}
	client, err := g.signaturesOf(d.ClientMethods)
	if err != nil {
		return nil, err
	}
	return &callSet{server: server, client: client}, nil
}

func (g *generator) signaturesOf(methods []hub.MethodDescription) ([]signature, error) {
	var out []signature
	for _, m := range methods {
		s := signature{d: m, result: "void"}
		for i, t := range m.Args {
			ts, err := g.typeOf(t)
			if err != nil {
				return nil, fmt.Errorf("method %s, argument %d: %w", m.Name, i+1, err)
			}
			s.args = append(s.args, ts)
			s.upload = append(s.upload, slices.Contains(m.StreamArgs, i))
		}
		if m.Result != nil {
			ts, err := g.typeOf(m.Result)
			if err != nil {
				return nil, fmt.Errorf("method %s, result: %w", m.Name, err)
			}
			s.result = ts
		}
		out = append(out, s)
	}
	return out, nil
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	rawMessage    = reflect.TypeFor[json.RawMessage]()
	rawValue      = reflect.TypeFor[protocol.RawValue]() // any value, as the client sent it
	jsonNumber    = reflect.TypeFor[json.Number]()       // a string encoding/json writes as a number
)

// ErrUnsupported is a type JSON cannot encode (a func, a channel, a complex
// number, a map with other keys), met in a method's signature.
var ErrUnsupported = errors.New("JSON cannot encode this type")

// isValidTag says whether encoding/json takes s as a member name; it uses the Go
// field's name when not.
func isValidTag(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", r) && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}

// isIdentifier says whether s can be a TypeScript member name unquoted.
func isIdentifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || r == '$' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return s != ""
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

// typeOf is t's TypeScript type as encoding/json writes a t.
func (g *generator) typeOf(t reflect.Type) (string, error) {
	switch {
	case t.Kind() == reflect.Interface:
		return "unknown", nil // the value's own type decides, and nil is null
	case t == timeType:
		return "string", nil
	case t == jsonNumber:
		return "number", nil
	case t == rawMessage, t == rawValue:
		return "unknown", nil
	case t.Kind() != reflect.Pointer && implements(t, jsonMarshaler):
		return "unknown", nil // its own encoding: nothing to tell from the type
	case t.Kind() != reflect.Pointer && t.Implements(textMarshaler):
		return "string", nil
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textMarshaler):
		// encoding/json calls (*T).MarshalText only where the T is addressable (a
		// slice's element, a pointer's target), and writes T as such elsewhere (a
		// field of a struct passed by value).
		plain, err := g.kindOf(t)
		if err != nil {
			return "", err
		}
		return "string | " + plain, nil
	}
	return g.kindOf(t)
}

// kindOf is t's TypeScript type as encoding/json writes its kind, when t does not
// marshal itself.
func (g *generator) kindOf(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		if t.Name() == "" {
			return g.composite(t)
		}
		if _, declared := g.index[t]; declared || g.expanding[t] {
			return g.named(t), nil
		}
		g.expanding[t] = true
		ts, err := g.composite(t)
		delete(g.expanding, t)
		if _, recursive := g.index[t]; recursive {
			return g.named(t), nil
		}
		return ts, err
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.String:
		return "string", nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.objectLiteral(t)
		}
		return g.named(t), nil
	}
	return "", fmt.Errorf("%s: %w", t, ErrUnsupported)
}

// composite is a map, slice, array or pointer type written out.
func (g *generator) composite(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.Pointer:
		elem, err := g.typeOf(t.Elem())
		if err != nil {
			return "", err
		}
		if strings.HasSuffix(elem, " | null") { // **T: null either way
			return elem, nil
		}
		return elem + " | null", nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !implements(reflect.PointerTo(t.Elem()), jsonMarshaler) && !implements(reflect.PointerTo(t.Elem()), textMarshaler) {
			return "string | Uint8Array", nil // base64 under JSON, bytes under MessagePack
		}
		elem, err := g.typeOf(t.Elem())
		if err != nil {
			return "", err
		}
		if strings.Contains(elem, " ") {
			elem = "(" + elem + ")"
		}
		return elem + "[]", nil
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr, k.Implements(textMarshaler): // never (*K).MarshalText: a key is not addressable
		default:
			return "", fmt.Errorf("%s: %w (map key %s)", t, ErrUnsupported, k)
		}
		elem, err := g.typeOf(t.Elem())
		if err != nil {
			return "", err
		}
		return "Record<string, " + elem + ">", nil
	}
	return "", fmt.Errorf("%s: %w", t, ErrUnsupported)
}

// named returns the name of a named struct type (or recursive map, slice or
// array), to be declared.
func (g *generator) named(t reflect.Type) string {
	i, ok := g.index[t]
	if !ok {
		i = len(g.order)
		g.index[t] = i
		g.order = append(g.order, t)
	}
	// A placeholder, resolved once every name is known (declarations): two
	// packages' Message become ChatMessage and NewsMessage.
	return "\x00" + strconv.Itoa(i) + "\x00"
}

// objectLiteral is an anonymous struct, inline.
func (g *generator) objectLiteral(t reflect.Type) (string, error) {
	fields, err := g.fields(t)
	if err != nil {
		return "", err
	}
	if len(fields) == 0 {
		return "Record<string, never>", nil
	}
	var b strings.Builder
	b.WriteString("{ ")
	for _, f := range fields {
		b.WriteString(f.decl())
		b.WriteString("; ")
	}
	b.WriteString("}")
	return b.String(), nil
}

// field is a JSON object member of a struct.
type field struct {
	name     string
	ts       string
	optional bool
}

func (f field) decl() string {
	name := f.name
	if !isIdentifier(name) {
		name = jsString(name)
	}
	opt := ""
	if f.optional {
		opt = "?"
	}
	return name + opt + ": " + f.ts
}

// goField is a field encoding/json might write, before name conflicts are settled.
type goField struct {
	name   string
	tagged bool
	depth  int
	index  []int
	typ    reflect.Type
	omit   bool // omitempty or omitzero
	quoted bool // ,string
}

// fields lists the members encoding/json writes for struct t, in its order, with
// its rules for embedded structs: the shallowest field of a name wins, a tagged
// one among equals, and a tie hides the name.
func (g *generator) fields(t reflect.Type) ([]field, error) {
	var all []goField
	type level struct {
		t     reflect.Type
		index []int
		// viaPointer: reached through an embedded pointer, which when nil leaves
		// out every field beneath it.
		viaPointer bool
	}
	// count is how many times each struct of the current level was embedded in the
	// level above: the fields of one embedded twice at a depth tie with themselves
	// and are hidden (encoding/json does this for the fields directly in it only).
	current, count, visited := []level{{t, nil, false}}, map[reflect.Type]int{}, map[reflect.Type]bool{}
	for depth := 0; len(current) > 0; depth++ {
		var next []level
		nextCount := map[reflect.Type]int{}
		for _, lv := range current {
			if visited[lv.t] {
				continue
			}
			visited[lv.t] = true
			for i := 0; i < lv.t.NumField(); i++ {
				sf := lv.t.Field(i)
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = "" // encoding/json uses the Go name
				}
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				index := append(slices.Clone(lv.index), i)
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					if nextCount[ft]++; nextCount[ft] == 1 {
						next = append(next, level{ft, index, lv.viaPointer || sf.Type.Kind() == reflect.Pointer})
					}
					continue
				}
				f := goField{name: name, tagged: name != "", depth: depth, index: index, typ: sf.Type, omit: lv.viaPointer}
				if f.name == "" {
					f.name = sf.Name
				}
				for _, o := range strings.Split(opts, ",") {
					switch o {
					case "omitempty", "omitzero":
						f.omit = true
					case "string":
						quotedType := sf.Type
						if quotedType.Name() == "" && quotedType.Kind() == reflect.Pointer {
							quotedType = quotedType.Elem() // "5" or null
						}
						switch quotedType.Kind() {
						case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64:
							f.quoted = true
						}
					}
				}
				all = append(all, f)
				if count[lv.t] > 1 {
					all = append(all, f) // a tie with itself
				}
			}
		}
		current, count = next, nextCount
	}
	byName := map[string][]goField{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var kept []goField
	for _, f := range all {
		rivals := byName[f.name]
		if dominant(rivals) == nil || !slices.Equal(dominant(rivals).index, f.index) {
			continue
		}
		kept = append(kept, f)
	}
	slices.SortStableFunc(kept, func(a, b goField) int { return slices.Compare(a.index, b.index) })
	var out []field
	for _, f := range kept {
		ts, err := g.typeOf(f.typ)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		if f.quoted && !strings.HasPrefix(ts, "unknown") { // a json.Marshaler writes itself, quoted or not
			ts = "string"
			if f.typ.Kind() == reflect.Pointer {
				ts += " | null"
			}
		}
		out = append(out, field{name: f.name, ts: ts, optional: f.omit})
	}
	return out, nil
}

// dominant is the field encoding/json keeps among those of one name, or nil.
func dominant(fields []goField) *goField {
	minDepth := slices.MinFunc(fields, func(a, b goField) int { return a.depth - b.depth }).depth
	var best []goField
	for _, f := range fields {
		if f.depth == minDepth {
			best = append(best, f)
		}
	}
	if len(best) > 1 {
		var tagged []goField
		for _, f := range best {
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
		if len(tagged) != 1 {
			return nil // a tie hides the name
		}
		best = tagged
	}
	return &best[0]
}

// declarations names every struct reached (Go name; package and name when two
// packages share one) and writes their interfaces, sorted by name. Walking a
// struct may reach more structs; they are declared too.
func (g *generator) declarations() ([]string, error) {
	bodies := map[reflect.Type][]field{}
	aliases := map[reflect.Type]string{} // a recursive map's value type, or slice's type
	for i := 0; i < len(g.order); i++ {  // g.order grows while we walk
		t := g.order[i]
		var err error
		switch t.Kind() {
		case reflect.Struct:
			bodies[t], err = g.fields(t)
		case reflect.Map:
			aliases[t], err = g.typeOf(t.Elem()) // and the key is valid: composite saw it
		case reflect.Slice, reflect.Array:
			aliases[t], err = g.composite(t)
		default: // type P *P: null at any depth, and no TypeScript alias may say so
			err = fmt.Errorf("a pointer to itself: %w", ErrUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}
	// A name two packages' types share is qualified with the package; a
	// package's own types of one name (Page[T] and Page[*T]) only get the _ below.
	pkgs := map[string]map[string]bool{}
	for _, t := range g.order {
		n := typeName(t, false)
		if pkgs[n] == nil {
			pkgs[n] = map[string]bool{}
		}
		pkgs[n][t.PkgPath()] = true
	}
	// The names the files declare or import themselves, and TypeScript's own
	// that a declaration would shadow.
	taken := map[string]bool{}
	for _, n := range []string{"HubConnection", "HubStream", "IStreamResult", "Subject", "Record", "Promise",
		"AsyncIterable", "Uint8Array", "Pick", "Omit", "Date", "Array", "Object", "String", "Number", "Boolean", "Error", "Map", "Set"} {
		taken[n] = true
	}
	// Nor may an interface be named like a reserved word or a predefined type:
	// Go's unexported class or object.
	for _, n := range strings.Fields(`break case catch class const continue debugger default delete do else enum
		export extends false finally for function if import in instanceof new null return super switch this throw
		true try typeof var void while with implements interface let package private protected public static yield
		await any boolean number string symbol bigint object never unknown undefined`) {
		taken[n] = true
	}
	for _, suffix := range []string{"Methods", "Streams", "ClientMethods", "Connection", "SignalRMethods", "SignalRStreams", "SignalRConnection"} {
		taken[g.prefix+suffix] = true
	}
	for _, t := range g.order {
		n := typeName(t, false)
		if len(pkgs[n]) > 1 {
			n = typeName(t, true)
		}
		for taken[n] {
			n += "_"
		}
		taken[n] = true
		g.names[t] = n
	}
	var decls []string
	for _, t := range g.order {
		var b strings.Builder
		fmt.Fprintf(&b, "/** Go %s. */\n", comment(t.String()))
		switch t.Kind() {
		case reflect.Map: // an interface: an alias of a Record may not refer to itself
			fmt.Fprintf(&b, "export interface %s {\n  [key: string]: %s;\n}\n", g.names[t], aliases[t])
			decls = append(decls, b.String())
			continue
		case reflect.Slice, reflect.Array:
			fmt.Fprintf(&b, "export type %s = %s;\n", g.names[t], aliases[t])
			decls = append(decls, b.String())
			continue
		}
		fmt.Fprintf(&b, "export interface %s {\n", g.names[t])
		for _, f := range bodies[t] {
			fmt.Fprintf(&b, "  %s;\n", f.decl())
		}
		b.WriteString("}\n")
		decls = append(decls, b.String())
	}
	slices.SortFunc(decls, func(a, b string) int { return strings.Compare(declName(a), declName(b)) })
	for i := range decls {
		decls[i] = g.resolve(decls[i])
	}
	return decls, nil
}

func declName(decl string) string {
	_, rest, _ := strings.Cut(decl, "\nexport ")
	_, rest, _ = strings.Cut(rest, " ") // interface or type
	name, _, _ := strings.Cut(rest, " ")
	return name
}

// resolve replaces the placeholders named put in type expressions.
func (g *generator) resolve(s string) string {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i+1:], 0) + i + 1
		n, _ := strconv.Atoi(s[i+1 : j])
		s = s[:i] + g.names[g.order[n]] + s[j+1:]
	}
}

// typeName is a TypeScript name for named type t: its Go name, with the package
// name in front when qualified; type arguments are folded in as Go code writes
// them, without import paths: Page[example.com/app/models.Item] is Page_Item.
func typeName(t reflect.Type, qualified bool) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		args := strings.FieldsFunc(name[i+1:len(name)-1], func(r rune) bool { return strings.ContainsRune("[](){}*,; ", r) })
		name = name[:i]
		for _, a := range args {
			a = a[strings.LastIndexByte(a, '/')+1:] // example.com/app/models.Item
			a = a[strings.LastIndexByte(a, '.')+1:]
			if a = strings.Map(func(r rune) rune {
				if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
					return r
				}
				return -1
			}, a); a != "" {
				name += "_" + a
			}
		}
	}
	if qualified {
		pkg := t.PkgPath()
		pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
		name = exportName(pkg) + name
	}
	return name
}

// exportName is s with its first letter upper-case and what is not a letter or a
// digit dropped: "chat" → "Chat", "my-hub" → "MyHub".
func exportName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 || unicode.IsDigit([]rune(b.String())[0]) {
		return "Hub" + b.String()
	}
	return b.String()
}

func (g *generator) header(b *bytes.Buffer, d hub.Description, what string) {
	fmt.Fprintf(b, "// Code generated by %s; DO NOT EDIT.\n", g.opts.Command)
	fmt.Fprintf(b, "//\n// %s of hub %q, from its hub.Describe.\n\n", what, d.Hub)
}

// tuple is an argument list as a labelled tuple: "[arg1: string, arg2: number]".
func (g *generator) tuple(s signature, upload func(string) string) string {
	var parts []string
	for i, ts := range s.args {
		if s.upload[i] {
			ts = upload(ts)
		}
		parts = append(parts, fmt.Sprintf("arg%d: %s", i+1, ts))
	}
	return g.resolve("[" + strings.Join(parts, ", ") + "]")
}

// methodMaps writes the interfaces that map each server method to its arguments
// and result (name+"Methods") or streamed item (name+"Streams").
func (g *generator) methodMaps(b *bytes.Buffer, d hub.Description, name string, calls *callSet, upload func(string) string) {
	fmt.Fprintf(b, "/** The methods of hub %s that answer once: their arguments and result. */\nexport interface %sMethods {\n", comment(strconv.Quote(d.Hub)), name)
	for _, s := range calls.server {
		if !s.d.Stream {
			fmt.Fprintf(b, "  /** %s */\n  %s: { args: %s; result: %s };\n", comment(s.d.String()), propName(s.d.Name), g.tuple(s, upload), g.resolve(s.result))
		}
	}
	fmt.Fprintf(b, "}\n\n/** The methods of hub %s that stream: their arguments and the items they stream. */\nexport interface %sStreams {\n", comment(strconv.Quote(d.Hub)), name)
	for _, s := range calls.server {
		if s.d.Stream {
			fmt.Fprintf(b, "  /** %s */\n  %s: { args: %s; item: %s };\n", comment(s.d.String()), propName(s.d.Name), g.tuple(s, upload), g.resolve(s.result))
		}
	}
	b.WriteString("}\n\n")
}

func (g *generator) typesFile(d hub.Description, decls []string, calls *callSet) []byte {
	var b bytes.Buffer
	g.header(&b, d, "Types and the bundled client's typed connection")
	fmt.Fprintf(&b, "import type { HubConnection, HubStream } from %s;\n\n", strconv.Quote(g.opts.ClientModule))
	for _, decl := range decls {
		b.WriteString(decl)
		b.WriteByte('\n')
	}
	p := g.prefix
	g.methodMaps(&b, d, p, calls, func(ts string) string { return "AsyncIterable<" + ts + ">" })
	fmt.Fprintf(&b, "/** The client methods hub %s calls: their arguments. */\nexport interface %sClientMethods {\n", comment(strconv.Quote(d.Hub)), p)
	for _, s := range calls.client {
		fmt.Fprintf(&b, "  /** %s */\n  %s: %s;\n", comment(s.d.String()), propName(s.d.Name), g.tuple(s, nil))
	}
	b.WriteString("}\n\n")

	fmt.Fprintf(&b, `/**
 * The bundled client's HubConnection for hub %[1]s: invoke, send and stream take
 * its methods only, with their arguments, and give their results; on and off take
 * the client methods it declares (hub.ClientMethod), or any when it declares none.
 * Declare a connection with it: const conn: %[2]sConnection = connect(url).
 */
export interface %[2]sConnection extends Omit<HubConnection, %[3]s> {
  invoke<M extends keyof %[2]sMethods>(method: M, ...args: %[2]sMethods[M]["args"]): Promise<%[2]sMethods[M]["result"]>;
  send<M extends keyof %[2]sMethods>(method: M, ...args: %[2]sMethods[M]["args"]): Promise<void>;
  stream<M extends keyof %[2]sStreams>(method: M, ...args: %[2]sStreams[M]["args"]): HubStream<%[2]sStreams[M]["item"]>;
  timeout(ms: number): Pick<%[2]sConnection, "invoke" | "send">;
`, comment(strconv.Quote(d.Hub)), p, typedMembers(calls, `"timeout"`))
	if len(calls.client) > 0 {
		fmt.Fprintf(&b, `  on<M extends keyof %[1]sClientMethods>(method: M, handler: (...args: %[1]sClientMethods[M]) => void): this;
  off<M extends keyof %[1]sClientMethods>(method: M, handler?: (...args: %[1]sClientMethods[M]) => void): this;
`, p)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func (g *generator) signalRFile(d hub.Description, calls *callSet) []byte {
	var b bytes.Buffer
	g.header(&b, d, "@microsoft/signalr's typed connection")
	fmt.Fprintf(&b, "import type { HubConnection, IStreamResult, Subject } from %s;\n", strconv.Quote(g.opts.SignalRModule))
	var used []string
	if len(calls.client) > 0 {
		used = append(used, g.prefix+"ClientMethods")
	}
	for _, t := range g.order {
		used = append(used, g.names[t])
	}
	slices.Sort(used)
	if len(used) > 0 {
		fmt.Fprintf(&b, "import type { %s } from %s;\n", strings.Join(used, ", "), strconv.Quote("./"+fileBase(d.Hub)+".js"))
	}
	b.WriteByte('\n')
	p := g.prefix + "SignalR"
	g.methodMaps(&b, d, p, calls, func(ts string) string { return "Subject<" + ts + ">" })
	fmt.Fprintf(&b, `/**
 * @microsoft/signalr's HubConnection for hub %[1]s: invoke, send and stream take
 * its methods only, with their arguments, and give their results; on and off take
 * the client methods it declares (hub.ClientMethod), or any when it declares none.
 * Declare a connection with it: const conn: %[2]sConnection = builder.build().
 */
export interface %[2]sConnection extends Omit<HubConnection, %[3]s> {
  invoke<M extends keyof %[2]sMethods>(methodName: M, ...args: %[2]sMethods[M]["args"]): Promise<%[2]sMethods[M]["result"]>;
  send<M extends keyof %[2]sMethods>(methodName: M, ...args: %[2]sMethods[M]["args"]): Promise<void>;
  stream<M extends keyof %[2]sStreams>(methodName: M, ...args: %[2]sStreams[M]["args"]): IStreamResult<%[2]sStreams[M]["item"]>;
`, comment(strconv.Quote(d.Hub)), p, typedMembers(calls, ""))
	if len(calls.client) > 0 {
		fmt.Fprintf(&b, `  on<M extends keyof %[1]sClientMethods>(methodName: M, newMethod: (...args: %[1]sClientMethods[M]) => void): void;
  off<M extends keyof %[1]sClientMethods>(methodName: M, method?: (...args: %[1]sClientMethods[M]) => void): void;
`, g.prefix)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func propName(name string) string {
	if isIdentifier(name) {
		return name
	}
	return jsString(name)
}

// comment is s made safe inside a /** comment */: a "*/" in it would end it.
func comment(s string) string { return strings.ReplaceAll(s, "*/", "*\\/") }

// jsString is s as a JavaScript string literal: a JSON string is one (%q is not:
// its \a and \U0001f600 mean other things there).
func jsString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// typedMembers are the HubConnection members the typed view replaces, and extra:
// on and off stay untyped when the hub declares no client methods.
func typedMembers(calls *callSet, extra string) string {
	members := `"invoke" | "send" | "stream"`
	if len(calls.client) > 0 {
		members += ` | "on" | "off"`
	}
	if extra != "" {
		members += " | " + extra
	}
	return members
}
