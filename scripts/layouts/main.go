// layouts prints, as JSON, the offsets of the unexported crypto/tls and net fields that `gokeylog conns` reads
// from a live Go process, for the Go release that runs it. Two independent sources are used and compared:
//
//   - reflect, on this toolchain's own compiled types (the running architecture, amd64 here);
//   - go/types with types.SizesFor("gc", ARCH) over this toolchain's crypto/tls source, for amd64 and arm64
//     (arm64 binaries cannot run here, so this is how their layout is computed).
//
// The program fails when go/types' amd64 layout differs from reflect's, and when a layout differs from the DWARF
// of a binary this toolchain built for that architecture (-dwarf ARCH=BINARY, an unstripped fixture): the
// computed arm64 layout is checked against what the compiler really laid out for arm64.
// It must build with every Go release from 1.15 on (no generics).
// Run by scripts/gen-layouts.ts:  GOROOT=… go run . -dwarf arm64=FIXTURE > layout.json
package main

import (
	"crypto/tls"
	"crypto/x509"
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"go/build"
	"go/importer"
	"go/token"
	"go/types"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
)

// DWARF type names of the structs of `nodes`.
var dwarfNames = map[string]string{
	"tls.Conn": "crypto/tls.Conn", "tls.halfConn": "crypto/tls.halfConn", "x509.Certificate": "crypto/x509.Certificate",
	"net.TCPConn": "net.TCPConn", "net.conn": "net.conn", "net.netFD": "net.netFD", "poll.FD": "internal/poll.FD",
	"net.TCPAddr": "net.TCPAddr",
}

type dwarfFlags map[string]string

func (d dwarfFlags) String() string { return fmt.Sprint(map[string]string(d)) }
func (d dwarfFlags) Set(s string) error {
	i := strings.Index(s, "=")
	if i < 0 {
		return fmt.Errorf("want ARCH=BINARY")
	}
	d[s[:i]] = s[i+1:]
	return nil
}

// A struct reached from a root type by a path of fields ("*" dereferences a pointer field's type).
type node struct {
	name   string
	pkg    string
	root   string
	path   []string
	fields []string
}

var nodes = []node{
	{"tls.Conn", "crypto/tls", "Conn", nil, []string{"conn", "isClient", "vers", "cipherSuite", "peerCertificates", "serverName", "clientProtocol", "in", "out"}},
	{"tls.halfConn", "crypto/tls", "Conn", []string{"in"}, []string{"version", "cipher", "seq", "trafficSecret"}},
	{"x509.Certificate", "crypto/x509", "Certificate", nil, []string{"Raw"}},
	{"net.TCPConn", "net", "TCPConn", nil, []string{"conn"}},
	{"net.conn", "net", "TCPConn", []string{"conn"}, []string{"fd"}},
	{"net.netFD", "net", "TCPConn", []string{"conn", "fd", "*"}, []string{"pfd", "family", "sotype", "laddr", "raddr"}},
	{"poll.FD", "net", "TCPConn", []string{"conn", "fd", "*", "pfd"}, []string{"Sysfd"}},
	{"net.TCPAddr", "net", "TCPAddr", nil, []string{"IP", "Port", "Zone"}},
}

// Struct is one struct's size and the offsets of the fields that are read.
type Struct struct {
	Size   int64            `json:"size"`
	Fields map[string]int64 `json:"fields"`
}

// Layout is every struct of `nodes` for one architecture.
type Layout struct {
	Arch    string            `json:"arch"`
	Source  string            `json:"source"`
	Structs map[string]Struct `json:"structs"`
}

func main() {
	binaries := dwarfFlags{}
	flag.Var(binaries, "dwarf", "ARCH=BINARY: check that architecture's layout against the DWARF of an unstripped binary (repeatable)")
	flag.Parse()
	reflected, err := fromReflect()
	if err != nil {
		fail(err)
	}
	out := struct {
		GoVersion string   `json:"goVersion"`
		Layouts   []Layout `json:"layouts"`
	}{GoVersion: runtime.Version()}
	for _, arch := range []string{"amd64", "arm64"} {
		computed, err := fromTypes(arch)
		if err != nil {
			fail(fmt.Errorf("go/types for %s: %v", arch, err))
		}
		checked := ""
		if binary, ok := binaries[arch]; ok {
			if err := checkDwarf(binary, computed.Structs); err != nil {
				fail(fmt.Errorf("%s: %v", arch, err))
			}
			checked = ", equal to the DWARF of a binary built for " + arch
		}
		if arch == runtime.GOARCH {
			if diff := differences(reflected.Structs, computed.Structs); diff != "" {
				fail(fmt.Errorf("go/types and reflect disagree on %s: %s", arch, diff))
			}
			out.Layouts = append(out.Layouts, Layout{arch, "reflect, equal to go/types" + checked, reflected.Structs})
		} else {
			out.Layouts = append(out.Layouts, Layout{arch, "go/types (types.SizesFor gc " + arch + "; its " + runtime.GOARCH + " result equal to reflect's)" + checked, computed.Structs})
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

var roots = map[string]reflect.Type{
	"crypto/tls.Conn":         reflect.TypeOf(tls.Conn{}),
	"crypto/x509.Certificate": reflect.TypeOf(x509.Certificate{}),
	"net.TCPConn":             reflect.TypeOf(net.TCPConn{}),
	"net.TCPAddr":             reflect.TypeOf(net.TCPAddr{}),
}

func fromReflect() (Layout, error) {
	structs := map[string]Struct{}
	for _, n := range nodes {
		t := roots[n.pkg+"."+n.root]
		for _, step := range n.path {
			if step == "*" {
				t = t.Elem()
				continue
			}
			f, ok := t.FieldByName(step)
			if !ok {
				return Layout{}, fmt.Errorf("%s has no field %s", t, step)
			}
			t = f.Type
		}
		s := Struct{Size: int64(t.Size()), Fields: map[string]int64{}}
		for _, name := range n.fields {
			f, ok := t.FieldByName(name)
			if !ok {
				return Layout{}, fmt.Errorf("%s has no field %s", n.name, name)
			}
			s.Fields[name] = int64(f.Offset)
		}
		structs[n.name] = s
	}
	return Layout{runtime.GOARCH, "reflect", structs}, nil
}

func fromTypes(arch string) (Layout, error) {
	// The source importer type-checks the standard library as this architecture would build it.
	build.Default.GOARCH = arch
	build.Default.GOOS = "linux"
	build.Default.CgoEnabled = false
	std := types.SizesFor("gc", arch)
	if std == nil {
		return Layout{}, fmt.Errorf("no gc sizes for %s", arch)
	}
	sizes := gcSizes{std}
	imp := importer.ForCompiler(token.NewFileSet(), "source", nil)
	structs := map[string]Struct{}
	for _, n := range nodes {
		pkg, err := imp.Import(n.pkg)
		if err != nil {
			return Layout{}, err
		}
		obj := pkg.Scope().Lookup(n.root)
		if obj == nil {
			return Layout{}, fmt.Errorf("%s has no type %s", n.pkg, n.root)
		}
		t := obj.Type()
		for _, step := range n.path {
			if step == "*" {
				t = t.Underlying().(*types.Pointer).Elem()
				continue
			}
			f, _, err := fieldOf(t, step, sizes)
			if err != nil {
				return Layout{}, err
			}
			t = f.Type()
		}
		st, ok := t.Underlying().(*types.Struct)
		if !ok {
			return Layout{}, fmt.Errorf("%s is not a struct", n.name)
		}
		s := Struct{Size: sizes.Sizeof(st), Fields: map[string]int64{}}
		for _, name := range n.fields {
			_, offset, err := fieldOf(t, name, sizes)
			if err != nil {
				return Layout{}, err
			}
			s.Fields[name] = offset
		}
		structs[n.name] = s
	}
	return Layout{arch, "go/types", structs}, nil
}

// gcSizes is types.SizesFor("gc", arch) with the compiler's struct sizes: go/types before 1.20 leaves out a
// struct's trailing padding (bytes.Buffer is 33 bytes to it, 40 to the compiler), which shifts every later field.
type gcSizes struct{ std types.Sizes }

func (s gcSizes) Alignof(t types.Type) int64 { return s.std.Alignof(t) }

func (s gcSizes) Offsetsof(fields []*types.Var) []int64 {
	offsets := make([]int64, len(fields))
	var offset int64
	for i, f := range fields {
		offset = roundUp(offset, s.Alignof(f.Type()))
		offsets[i] = offset
		offset += s.Sizeof(f.Type())
	}
	return offsets
}

func (s gcSizes) Sizeof(t types.Type) int64 {
	switch u := t.Underlying().(type) {
	case *types.Struct:
		n := u.NumFields()
		if n == 0 {
			return 0
		}
		fields := make([]*types.Var, n)
		for i := range fields {
			fields[i] = u.Field(i)
		}
		offsets := s.Offsetsof(fields)
		last := s.Sizeof(fields[n-1].Type())
		if last == 0 {
			last = 1 // the compiler pads a trailing zero-size field so that &field stays inside the struct
		}
		return roundUp(offsets[n-1]+last, s.Alignof(t))
	case *types.Array:
		return u.Len() * s.Sizeof(u.Elem())
	}
	return s.std.Sizeof(t)
}

func roundUp(n, align int64) int64 { return (n + align - 1) / align * align }

func fieldOf(t types.Type, name string, sizes types.Sizes) (*types.Var, int64, error) {
	st, ok := t.Underlying().(*types.Struct)
	if !ok {
		return nil, 0, fmt.Errorf("%s is not a struct", t)
	}
	fields := make([]*types.Var, st.NumFields())
	for i := range fields {
		fields[i] = st.Field(i)
	}
	offsets := sizes.Offsetsof(fields)
	for i, f := range fields {
		if f.Name() == name {
			return f, offsets[i], nil
		}
	}
	return nil, 0, fmt.Errorf("%s has no field %s", t, name)
}

func differences(a, b map[string]Struct) string {
	var diffs []string
	for name, sa := range a {
		sb := b[name]
		if sa.Size != sb.Size {
			diffs = append(diffs, fmt.Sprintf("%s size %d vs %d", name, sa.Size, sb.Size))
		}
		for field, off := range sa.Fields {
			if sb.Fields[field] != off {
				diffs = append(diffs, fmt.Sprintf("%s.%s %d vs %d", name, field, off, sb.Fields[field]))
			}
		}
	}
	return strings.Join(diffs, "; ")
}

// checkDwarf compares a layout with the struct types in an unstripped binary's DWARF.
func checkDwarf(binary string, want map[string]Struct) error {
	f, err := elf.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		return fmt.Errorf("%s: %v", binary, err)
	}
	found := map[string]*dwarf.StructType{}
	byName := map[string]string{}
	for node, name := range dwarfNames {
		byName[name] = node
	}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		node, ok := byName[name]
		if !ok || found[node] != nil {
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return err
		}
		if st, ok := t.(*dwarf.StructType); ok {
			found[node] = st
		}
	}
	var diffs []string
	for node, s := range want {
		st := found[node]
		if st == nil {
			diffs = append(diffs, node+" not in DWARF")
			continue
		}
		if st.ByteSize != s.Size {
			diffs = append(diffs, fmt.Sprintf("%s size %d vs DWARF %d", node, s.Size, st.ByteSize))
		}
		for field, off := range s.Fields {
			seen := false
			for _, f := range st.Field {
				if f.Name == field {
					seen = true
					if f.ByteOffset != off {
						diffs = append(diffs, fmt.Sprintf("%s.%s %d vs DWARF %d", node, field, off, f.ByteOffset))
					}
				}
			}
			if !seen {
				diffs = append(diffs, fmt.Sprintf("%s.%s not in DWARF", node, field))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s: %s", binary, strings.Join(diffs, "; "))
	}
	return nil
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "layouts: %v\n", err)
	os.Exit(1)
}
