package tsgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/tsgen"
)

type Base struct {
	ID      int    `json:"id"`
	Shadow  string `json:"shadow"`
	Created time.Time
}

type Inner struct {
	Shadow string `json:"shadow"` // deeper than Base's? no: same depth, both tagged: hidden
	Deep   bool   `json:"deep"`
}

type tagged struct {
	Name     string            `json:"name"`
	Nick     string            `json:"nick,omitempty"`
	Skipped  string            `json:"-"`
	Dash     string            `json:"-,"`
	Count    int64             `json:"count,string"`
	Parent   *tagged           `json:"parent"`
	Labels   map[string]string `json:"labels,omitempty"`
	ByID     map[int][]float64 `json:"byId"`
	Raw      json.RawMessage   `json:"raw"`
	Blob     []byte            `json:"blob"`
	Any      any               `json:"any"`
	IP       net.IP            `json:"ip"` // a TextMarshaler
	Ptrs     []*Base           `json:"ptrs"`
	Untagged int
	private  int
	Base
	*Inner
	Anon struct {
		X int `json:"x"`
	} `json:"anon"`
}

// newHub is a hub to describe, closed (quietly) when the test ends.
func newHub(t *testing.T, name string) *hub.Hub {
	h := hub.New(hub.Options{Name: name, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func generate(t *testing.T, d hub.Description) map[string]string {
	t.Helper()
	files, err := tsgen.Generate(d, tsgen.Options{Command: "tsgen_test"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f.Name] = string(f.Data)
	}
	return out
}

// Each Go type becomes the TypeScript type of what encoding/json writes.
func TestTypes(t *testing.T) {
	for _, tc := range []struct {
		value any
		want  string
	}{
		{true, "boolean"},
		{int8(1), "number"},
		{uint64(1), "number"},
		{1.5, "number"},
		{"s", "string"},
		{[]byte{}, "string | Uint8Array"},
		{[][]byte{}, "(string | Uint8Array)[]"},
		{[3]int{}, "number[]"},
		{[]string{}, "string[]"},
		{[]*string{}, "(string | null)[]"},
		{map[string]int{}, "Record<string, number>"},
		{map[int]bool{}, "Record<string, boolean>"},
		{time.Time{}, "string"},
		{&time.Time{}, "string | null"},
		{new(*int), "number | null"},
		{[]**Base{}, "(Base | null)[]"},
		{json.RawMessage{}, "unknown"},
		{protocol.RawValue{}, "unknown"},
		{net.IP{}, "string"},
		{nil, "unknown"},
		{struct{}{}, "Record<string, never>"},
		{struct {
			A int `json:"a-b"`
		}{}, `{ "a-b": number; }`},
		{Base{}, "Base"},
		{&Base{}, "Base | null"},
	} {
		h := newHub(t, "types")
		h.ClientMethod("m", tc.value)
		files := generate(t, h.Describe())
		want := "  m: [arg1: " + tc.want + "];\n"
		if !strings.Contains(files["types.d.ts"], want) {
			t.Errorf("%T: want %q in\n%s", tc.value, want, files["types.d.ts"])
		}
	}
}

// Struct fields follow their json tags and encoding/json's embedding rules.
func TestStructFields(t *testing.T) {
	h := newHub(t, "fields")
	h.ClientMethod("m", tagged{})
	got := generate(t, h.Describe())["fields.d.ts"]
	for _, want := range []string{
		`/** Go tsgen_test.tagged. */
export interface tagged {
  name: string;
  nick?: string;
  "-": string;
  count: string;
  parent: tagged | null;
  labels?: Record<string, string>;
  byId: Record<string, number[]>;
  raw: unknown;
  blob: string | Uint8Array;
  any: unknown;
  ip: string;
  ptrs: (Base | null)[];
  Untagged: number;
  id: number;
  Created: string;
  deep?: boolean;
  anon: { x: number; };
}
`,
		`export interface Base {
  id: number;
  shadow: string;
  Created: string;
}
`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want\n%s\nin\n%s", want, got)
		}
	}
}

// The members of the generated interface are the keys encoding/json writes.
func TestStructFieldsMatchEncodingJSON(t *testing.T) {
	h := newHub(t, "keys")
	h.ClientMethod("m", tagged{})
	got := generate(t, h.Describe())["keys.d.ts"]
	_, body, _ := strings.Cut(got, "export interface tagged {\n")
	body, _, _ = strings.Cut(body, "\n}")
	var members []string
	for _, line := range strings.Split(body, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		members = append(members, strings.Trim(strings.TrimSuffix(name, "?"), `"`))
	}
	data, err := json.Marshal(tagged{Nick: "n", Labels: map[string]string{"a": "b"}, Inner: &Inner{}})
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(obj))
	slices.Sort(members)
	if !slices.Equal(keys, members) {
		t.Errorf("interface members %q, encoding/json writes %q", members, keys)
	}
}

type Seen struct{ At int }

type HubConnection struct{ Name string }

type NamesConnection struct{ ID int }

type Whoami struct{ Me bool }

// Two packages' types of one name are told apart by their package.
func TestSameNameTwoPackages(t *testing.T) {
	h := newHub(t, "twice")
	h.ClientMethod("m", Whoami{}, conformance.Whoami{})
	got := generate(t, h.Describe())["twice.d.ts"]
	for _, want := range []string{"export interface ConformanceWhoami {", "export interface TsgenTestWhoami {", "m: [arg1: TsgenTestWhoami, arg2: ConformanceWhoami];"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
}

// A Go type named like what the files declare or import gets another name.
func TestNameClashes(t *testing.T) {
	h := newHub(t, "names")
	h.ClientMethod("m", HubConnection{}, NamesConnection{})
	got := generate(t, h.Describe())["names.d.ts"]
	for _, want := range []string{"export interface HubConnection_ {", "export interface NamesConnection_ {", "m: [arg1: HubConnection_, arg2: NamesConnection_];"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
}

// Methods map to their arguments and results, which invoke and send take; streams
// to their items, which stream takes (with AsyncIterable and Subject for
// client-to-server streams); client methods to their arguments, which on and off
// take. All sorted by name.
func TestConnections(t *testing.T) {
	h := newHub(t, "my-hub")
	h.On("Sum", func(label string, xs <-chan float64) (float64, error) { return 0, nil })
	h.On("Ticks", func(n int) <-chan Seen { return nil })
	h.On("Add", func(a, b int) int { return a + b })
	h.ClientMethod("seen", Seen{}, "")
	files := generate(t, h.Describe())
	for name, wants := range map[string][]string{
		"my-hub.d.ts": {
			"// Code generated by tsgen_test; DO NOT EDIT.\n",
			`import type { HubConnection, HubStream } from "hubbub-client";`,
			"export interface MyHubMethods {\n" +
				"  /** Add(int, int) int */\n" +
				"  Add: { args: [arg1: number, arg2: number]; result: number };\n" +
				"  /** Sum(string, stream float64) float64 */\n" +
				"  Sum: { args: [arg1: string, arg2: AsyncIterable<number>]; result: number };\n}\n",
			"export interface MyHubStreams {\n" +
				"  /** Ticks(int) stream tsgen_test.Seen */\n" +
				"  Ticks: { args: [arg1: number]; item: Seen };\n}\n",
			"export interface MyHubClientMethods {\n" +
				"  /** seen(tsgen_test.Seen, string) */\n" +
				"  seen: [arg1: Seen, arg2: string];\n}\n",
			"export interface MyHubConnection extends Omit<HubConnection, \"invoke\" | \"send\" | \"stream\" | \"on\" | \"off\" | \"timeout\"> {\n",
			`  invoke<M extends keyof MyHubMethods>(method: M, ...args: MyHubMethods[M]["args"]): Promise<MyHubMethods[M]["result"]>;`,
			`  stream<M extends keyof MyHubStreams>(method: M, ...args: MyHubStreams[M]["args"]): HubStream<MyHubStreams[M]["item"]>;`,
			`  on<M extends keyof MyHubClientMethods>(method: M, handler: (...args: MyHubClientMethods[M]) => void): this;`,
		},
		"my-hub.signalr.d.ts": {
			`import type { HubConnection, IStreamResult, Subject } from "@microsoft/signalr";`,
			`import type { MyHubClientMethods, Seen } from "./my-hub.js";`,
			`  Sum: { args: [arg1: string, arg2: Subject<number>]; result: number };`,
			`  stream<M extends keyof MyHubSignalRStreams>(methodName: M, ...args: MyHubSignalRStreams[M]["args"]): IStreamResult<MyHubSignalRStreams[M]["item"]>;`,
			`  on<M extends keyof MyHubClientMethods>(methodName: M, newMethod: (...args: MyHubClientMethods[M]) => void): void;`,
		},
	} {
		for _, want := range wants {
			if !strings.Contains(files[name], want) {
				t.Errorf("%s: want\n%s\nin\n%s", name, want, files[name])
			}
		}
	}
	// Without client methods, on and off stay those of HubConnection.
	bare := newHub(t, "bare")
	bare.On("Add", func(a, b int) int { return a + b })
	if got := generate(t, bare.Describe())["bare.d.ts"]; !strings.Contains(got, `Omit<HubConnection, "invoke" | "send" | "stream" | "timeout">`) || strings.Contains(got, "  on<") {
		t.Errorf("bare hub:\n%s", got)
	}
}

// Output depends on the description only: the same twice, no dates.
func TestDeterministic(t *testing.T) {
	h := newHub(t, "d")
	for _, n := range []string{"C", "a", "B"} {
		h.On(n, func(x tagged) Base { return Base{} })
		h.ClientMethod(strings.ToLower(n), Seen{}, tagged{})
	}
	first := generate(t, h.Describe())
	for range 5 {
		again := generate(t, h.Describe())
		for name := range first {
			if again[name] != first[name] {
				t.Fatalf("%s differs between two runs", name)
			}
		}
	}
	if regexp.MustCompile(`20\d\d-\d\d`).MatchString(first["d.d.ts"]) {
		t.Error("the output has a date")
	}
}

// A type JSON cannot encode is an error naming the method.
func TestUnsupported(t *testing.T) {
	h := newHub(t, "bad")
	h.ClientMethod("m", func() {})
	_, err := tsgen.Generate(h.Describe(), tsgen.Options{})
	if !errors.Is(err, tsgen.ErrUnsupported) || !strings.Contains(err.Error(), "method m") {
		t.Fatalf("err = %v, want ErrUnsupported naming method m", err)
	}
}
