package tsgen_test

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/tsgen"
)

// tsc type-checks the generated files of one hub, as an app importing them would
// (strict, against the bundled client's and @microsoft/signalr's declarations).
// It needs node and clientjs/node_modules (test.sh runs npm ci there first).
func tsc(t *testing.T, files map[string]string) {
	t.Helper()
	clientjs, err := filepath.Abs("../clientjs")
	if err != nil {
		t.Fatal(err)
	}
	compiler := filepath.Join(clientjs, "node_modules", "typescript", "bin", "tsc")
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(compiler); err != nil || statErr != nil {
		t.Skip("no node or no clientjs/node_modules (run npm ci in clientjs)")
	}
	dir := t.TempDir()
	var names []string
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	config, err := json.Marshal(map[string]any{
		"compilerOptions": map[string]any{
			"target": "es2022", "module": "nodenext", "moduleResolution": "nodenext",
			"lib": []string{"es2022", "dom"}, "strict": true, "noEmit": true, "types": []string{},
			"paths": map[string][]string{
				"hubbub-client":      {filepath.Join(clientjs, "dist", "hubbub.d.ts")},
				"@microsoft/signalr": {filepath.Join(clientjs, "node_modules", "@microsoft", "signalr", "dist", "esm", "index.d.ts")},
			},
		},
		"files": names,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, compiler, "-p", dir, "--pretty", "false").CombinedOutput(); err != nil {
		t.Errorf("tsc: %v\n%s", err, out)
	}
}

// member is one line of a generated interface.
type member struct {
	ts       string
	optional bool
}

var memberLine = regexp.MustCompile(`^  ("(?:[^"\\]|\\.)*"|[^?:]+)(\??): (.*);$`)

// members parses the body of the generated interface name.
func members(t *testing.T, file, name string) map[string]member {
	t.Helper()
	_, body, ok := strings.Cut(file, "export interface "+name+" {\n")
	if !ok {
		t.Fatalf("no interface %s in\n%s", name, file)
	}
	body, _, _ = strings.Cut("\n"+body, "\n}")
	out := map[string]member{}
	for _, line := range strings.Split(body, "\n")[1:] {
		m := memberLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("interface %s: cannot read %q", name, line)
		}
		key := m[1]
		if strings.HasPrefix(key, `"`) {
			if err := json.Unmarshal([]byte(key), &key); err != nil {
				t.Fatal(err)
			}
		}
		out[key] = member{ts: m[3], optional: m[2] == "?"}
	}
	return out
}

// jsonKind is the TypeScript primitive a JSON value is, for the simple ones.
func jsonKind(raw json.RawMessage) string {
	switch s := strings.TrimSpace(string(raw)); {
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "boolean"
	case strings.HasPrefix(s, `"`):
		return "string"
	case strings.HasPrefix(s, "{"), strings.HasPrefix(s, "["):
		return ""
	}
	return "number"
}

// assertShape checks the interface generated for v's struct type against what
// encoding/json writes for v: the same keys (each required member present), and
// a primitive value where the member's type allows that primitive.
func assertShape(t *testing.T, file, name string, v any) {
	t.Helper()
	want := members(t, file, name)
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for key, raw := range got {
		m, ok := want[key]
		if !ok {
			t.Errorf("%s: encoding/json writes %q (%s), the interface has no such member", name, key, raw)
			continue
		}
		if k := jsonKind(raw); k != "" && !strings.Contains(m.ts, k) && !strings.Contains(m.ts, "unknown") {
			t.Errorf("%s.%s: encoding/json writes %s, the interface says %s", name, key, raw, m.ts)
		}
	}
	for key, m := range want {
		if _, ok := got[key]; !ok && !m.optional {
			t.Errorf("%s: member %q is required, encoding/json left it out of %s", name, key, data)
		}
	}
}

func generateFor(t *testing.T, hubName string, values ...any) map[string]string {
	t.Helper()
	h := newHub(t, hubName)
	h.ClientMethod("m", values...)
	files, err := tsgen.Generate(h.Describe(), tsgen.Options{Command: "tsgen_test"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f.Name] = string(f.Data)
	}
	return out
}

// Tree and Forest are named maps and slices that contain themselves: a nested
// configuration, a list of lists.
type (
	Tree   map[string]Tree
	Forest []map[string]Forest
	Nested struct {
		Tree   Tree    `json:"tree"`
		Forest *Forest `json:"forest"`
	}
)

// A named map or slice that contains itself is declared once under its name and
// referred to, instead of being expanded without end (a stack overflow).
func TestRecursiveNamedTypes(t *testing.T) {
	files := generateFor(t, "rec", Tree{}, Nested{})
	got := files["rec.d.ts"]
	for _, want := range []string{
		"export interface Tree {\n  [key: string]: Tree;\n}\n",
		"export type Forest = (Record<string, Forest>)[];\n",
		"export interface Nested {\n  tree: Tree;\n  forest: Forest | null;\n}\n",
		"m: [arg1: Tree, arg2: Nested];",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want\n%s\nin\n%s", want, got)
		}
	}
	tsc(t, files)
}

// Unexported Go types named like TypeScript keywords and predefined types.
type (
	class    struct{ A int }
	object   struct{ B int }
	function struct{ C int }
	symbol   struct{ D int }
)

// A Go type named like a TypeScript reserved word or predefined type (which no
// interface may be named) gets another name.
func TestReservedTypeNames(t *testing.T) {
	files := generateFor(t, "reserved", class{}, object{}, function{}, symbol{})
	got := files["reserved.d.ts"]
	for _, want := range []string{"export interface class_ {", "export interface object_ {", "export interface function_ {", "export interface symbol_ {",
		"m: [arg1: class_, arg2: object_, arg3: function_, arg4: symbol_];"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
	tsc(t, files)
}

// Structs whose JSON takes encoding/json's less known rules.
type (
	Amount struct {
		Value json.Number `json:"value"` // written as a number
	}
	QuotedPointer struct {
		Count *int64 `json:"count,string"` // "5" or null
	}
	BadTags struct {
		Smile int `json:"😀"`    // not a valid key: the Go name is used
		Apos  int `json:"it's"` // neither
		Fine  int `json:"a-b c"`
	}
	Point   struct{ Deep int }
	Left    struct{ Point }
	Right   struct{ Point }
	Diamond struct {
		Left  // Point's Deep twice at one depth: hidden, as Go's selector would be
		Right //
	}
	Page struct {
		*Point     // nil: its fields are not written
		Size   int `json:"size"`
	}
	Textish struct {
		Text encoding.TextMarshaler `json:"text"` // nil: null
	}
	Cents        int // marshals itself, as a number
	QuotedCustom struct {
		Price *Cents `json:"price,string"` // ,string does not quote a json.Marshaler
	}
)

func (c Cents) MarshalJSON() ([]byte, error) { return []byte(strconv.Itoa(int(c))), nil }

// Each interface has the members encoding/json writes, each required one is
// always written, and each primitive value is one its member's type allows.
func TestShapesMatchEncodingJSON(t *testing.T) {
	five := int64(5)
	for _, tc := range []struct {
		name  string
		value any
	}{
		{"Amount", Amount{Value: "12.5"}},
		{"QuotedPointer", QuotedPointer{Count: &five}},
		{"QuotedPointer", QuotedPointer{}},
		{"BadTags", BadTags{}},
		{"Diamond", Diamond{}},
		{"Page", Page{}},
		{"Page", Page{Point: &Point{}}},
		{"Textish", Textish{}},
		{"Textish", Textish{Text: net.IP{127, 0, 0, 1}}},
		{"QuotedCustom", QuotedCustom{Price: new(Cents(150))}},
	} {
		files := generateFor(t, "shapes", tc.value)
		assertShape(t, files["shapes.d.ts"], tc.name, tc.value)
	}
	tsc(t, generateFor(t, "shapes", Amount{}, QuotedPointer{}, BadTags{}, Diamond{}, Page{}, Textish{}, QuotedCustom{}))
}

// Generic structs, as a hub returns pages of its items.
type (
	Paged[T any] struct {
		Items []T     `json:"items"`
		Next  *string `json:"next"`
	}
	Pair[K comparable, V any] struct {
		Key   K `json:"key"`
		Value V `json:"value"`
	}
)

// A generic struct's instantiation is named after its type arguments as written
// in Go, without their import paths.
func TestGenericNames(t *testing.T) {
	files := generateFor(t, "generic", Paged[Point]{}, Paged[*Point]{}, Pair[string, map[string][]int]{})
	got := files["generic.d.ts"]
	for _, want := range []string{
		"export interface Paged_Point {\n  items: Point[];\n  next: string | null;\n}\n",
		"export interface Paged_Point_ {\n  items: (Point | null)[];\n", // *Point: the same words, another type
		"export interface Pair_string_map_string_int {\n  key: string;\n  value: Record<string, number[]>;\n}\n",
		"m: [arg1: Paged_Point, arg2: Paged_Point_, arg3: Pair_string_map_string_int];",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want\n%s\nin\n%s", want, got)
		}
	}
	tsc(t, files)
}

// Level has MarshalText on its pointer only: encoding/json calls it where a Level
// is addressable (a slice's element, a pointer's target) and writes the number
// elsewhere, as in a struct passed by value.
type Level int

func (l *Level) MarshalText() ([]byte, error) { return []byte("high"), nil }

// Spot is a map key json cannot use: its MarshalText is on its pointer.
type Spot struct{ X, Y int }

func (s *Spot) MarshalText() ([]byte, error) { return []byte("spot"), nil }

type Levels struct {
	Level  Level   `json:"level"`
	Levels []Level `json:"levels"`
}

// A TextMarshaler on the pointer only is a string or the value's own encoding.
func TestPointerTextMarshaler(t *testing.T) {
	files := generateFor(t, "ptm", Levels{})
	got := files["ptm.d.ts"]
	want := "export interface Levels {\n  level: string | number;\n  levels: (string | number)[];\n}\n"
	if !strings.Contains(got, want) {
		t.Errorf("want\n%s\nin\n%s", want, got)
	}
	for _, v := range []any{Levels{Level: 1, Levels: []Level{1}}, &Levels{Level: 1, Levels: []Level{}}} {
		assertShape(t, got, "Levels", v)
	}
	tsc(t, files)

	if _, err := json.Marshal(map[Spot]int{{}: 1}); err == nil {
		t.Fatal("encoding/json took a map keyed by Spot")
	}
	h := newHub(t, "spots")
	h.ClientMethod("m", map[Spot]int{})
	if _, err := tsgen.Generate(h.Describe(), tsgen.Options{}); !errors.Is(err, tsgen.ErrUnsupported) {
		t.Errorf("map[Spot]int: err = %v, want ErrUnsupported", err)
	}
}

// A hub's name may be anything (a backplane key): its files get names that stay
// in the directory they are written to, and import each other by them.
func TestFileNames(t *testing.T) {
	for _, tc := range []struct{ hub, base string }{
		{"chat", "chat"},
		{"api/v1", "api-v1"},
		{"../up", "..-up"},
		{`rooms:lobby\1`, "rooms-lobby-1"},
		{"ünï_code.x", "ünï_code.x"},
	} {
		files := generateFor(t, tc.hub, Point{})
		types, signalR := files[tc.base+".d.ts"], files[tc.base+".signalr.d.ts"]
		if types == "" || signalR == "" || len(files) != 2 {
			t.Errorf("hub %q: files %q, want %s.d.ts and %[3]s.signalr.d.ts", tc.hub, slices.Sorted(maps.Keys(files)), tc.base)
			continue
		}
		if want := fmt.Sprintf(`from "./%s.js";`, tc.base); !strings.Contains(signalR, want) {
			t.Errorf("hub %q: want %s in\n%s", tc.hub, want, signalR)
		}
		tsc(t, files)
	}
}

// A method name that is no identifier is quoted as JavaScript reads it back: a
// flag emoji's tag characters (U+E0067…), which Go's %q writes as \U000e0067, a
// \U escape JavaScript does not have.
func TestQuotedNames(t *testing.T) {
	names := []string{"a b", `quote"back\slash`, "tab\there", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "line\u2028sep", "bell\a"}
	h := newHub(t, "quoted")
	for _, n := range names {
		h.On(n, func() {})
	}
	files, err := tsgen.Generate(h.Describe(), tsgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := string(files[0].Data)
	members := map[string]bool{}
	for _, line := range strings.Split(got, "\n") {
		literal, _, ok := strings.Cut(strings.TrimPrefix(line, "  "), `: { args:`)
		if !ok || !strings.HasPrefix(literal, `"`) {
			continue
		}
		var s string // a JSON string is a JavaScript string literal of the same value
		if err := json.Unmarshal([]byte(literal), &s); err != nil {
			t.Errorf("%s is no JSON string (so JavaScript may read another name): %v", literal, err)
		}
		members[s] = true
	}
	for _, n := range names {
		if !members[n] {
			t.Errorf("no member for method %q in\n%s", n, got)
		}
	}
	tsc(t, map[string]string{files[0].Name: got, files[1].Name: string(files[1].Data)})
}

// Names that end a /** comment */ in the middle (a hub's, a method's, a tag's
// in an inline struct's Go type) do not end the comments they are quoted in.
func TestNamesInComments(t *testing.T) {
	h := newHub(t, "a*/b")
	h.On("x*/y", func(p struct {
		P int `json:"p*/q"`
	}) {
	})
	h.ClientMethod("c*/d", Point{})
	files, err := tsgen.Generate(h.Describe(), tsgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f.Name] = string(f.Data)
	}
	tsc(t, out)
}

// Loop is a pointer to itself: null at any depth, which no TypeScript alias can say.
type Loop *Loop

// Every type JSON cannot encode, wherever it is met, is ErrUnsupported, never a
// panic or an endless walk.
func TestUnsupportedTypes(t *testing.T) {
	type withChan struct{ C chan int }
	type withFunc struct{ F func() }
	for _, v := range []any{Loop(nil), withChan{}, []withFunc{}, complex(1, 2), map[bool]int{}, map[Point]int{}, make(chan int)} {
		h := newHub(t, "bad")
		h.ClientMethod("m", v)
		if _, err := tsgen.Generate(h.Describe(), tsgen.Options{}); !errors.Is(err, tsgen.ErrUnsupported) {
			t.Errorf("%T: err = %v, want ErrUnsupported", v, err)
		}
	}
}
