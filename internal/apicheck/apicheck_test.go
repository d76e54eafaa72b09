// Package apicheck holds one test and no code: it fails when an exported
// identifier of a library package is used by tests alone. make lint's
// deadcode reports functions no binary reaches, but it takes a method as
// live once its type may be reached through an interface, and it says
// nothing of variables or constants: this test looks at what production
// code names instead.
package apicheck_test

import (
	"go/types"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// dynamic are methods that the standard library finds through interfaces
// of its own, declared inside functions (errors.Is, errors.As), where no
// scope shows them.
var dynamic = []string{"Is", "As", "Unwrap"}

// forTests are exported on purpose for other packages' tests: ftpd is the
// server every test starts, and switching its faults while it runs is how
// the fault matrix of conn and fs drives it (ftpfs serve sets them once,
// from its flags, through Config).
var forTests = []string{"ftpfs/ftpd.Server.SetFaults"}

func TestNoTestOnlyAPI(t *testing.T) {
	cfg := &packages.Config{
		Dir:  "../..",
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports | packages.NeedSyntax,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("the module does not load")
	}
	ours := func(p *types.Package) bool {
		return p != nil && (p.Path() == "ftpfs" || strings.HasPrefix(p.Path(), "ftpfs/"))
	}
	// The test-support packages are tests' code in non-test files: what
	// they name is not production use, and their API is for tests.
	testSupport := func(p *packages.Package) bool {
		return p.PkgPath == "ftpfs/internal/testutil" || strings.HasPrefix(p.PkgPath, "ftpfs/internal/testutil/")
	}

	// Everything production code names, binaries included. A method of a
	// generic type is named through its instance: count the origin.
	used := map[types.Object]bool{}
	for _, p := range pkgs {
		if testSupport(p) {
			continue
		}
		for _, o := range p.TypesInfo.Uses {
			switch x := o.(type) {
			case *types.Func:
				o = x.Origin()
			case *types.Var:
				o = x.Origin()
			}
			if ours(o.Pkg()) {
				used[o] = true
			}
		}
	}

	// Interfaces that a method may be called through: error, and every
	// named interface of every package the project imports, its own
	// included.
	ifaces := []*types.Interface{types.Universe.Lookup("error").Type().Underlying().(*types.Interface)}
	seen := map[*types.Package]bool{}
	var walk func(*types.Package)
	walk = func(p *types.Package) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, name := range p.Scope().Names() {
			tn, ok := p.Scope().Lookup(name).(*types.TypeName)
			if !ok {
				continue
			}
			if named, ok := tn.Type().(*types.Named); !ok || named.TypeParams() != nil {
				continue // aliases name interfaces found elsewhere; generic ones need an instance
			}
			if it, ok := tn.Type().Underlying().(*types.Interface); ok {
				ifaces = append(ifaces, it)
			}
		}
		for _, q := range p.Imports() {
			walk(q)
		}
	}
	for _, p := range pkgs {
		walk(p.Types)
	}
	satisfies := func(named *types.Named, m *types.Func) bool {
		if slices.Contains(dynamic, m.Name()) {
			return true
		}
		var recv types.Type = named
		if tps := named.TypeParams(); tps != nil {
			// A generic type implements nothing until instantiated: with
			// its constraints for arguments, Dirs[E any] is Dirs[any].
			args := make([]types.Type, tps.Len())
			for i := range args {
				args[i] = tps.At(i).Constraint()
			}
			inst, err := types.Instantiate(nil, named, args, false)
			if err != nil {
				return true // cannot tell
			}
			recv = inst
		}
		for _, it := range ifaces {
			if sel, _, _ := types.LookupFieldOrMethod(it, false, nil, m.Name()); sel == nil {
				continue
			}
			if types.Implements(recv, it) || types.Implements(types.NewPointer(recv), it) {
				return true
			}
		}
		return false
	}

	for _, p := range pkgs {
		if p.Name == "main" || testSupport(p) {
			continue // nothing imports a main package; tests import testutil
		}
		scope := p.Types.Scope()
		for _, name := range scope.Names() {
			o := scope.Lookup(name)
			if !o.Exported() {
				continue
			}
			// A type is named by its own methods' receivers: its
			// constructor and its methods are what give it away.
			if !used[o] {
				if _, isType := o.(*types.TypeName); !isType {
					t.Errorf("%s: %s.%s is exported, and no production code uses it", p.Fset.Position(o.Pos()), p.Name, name)
				}
			}
			tn, ok := o.(*types.TypeName)
			if !ok {
				continue
			}
			named, ok := tn.Type().(*types.Named)
			if !ok {
				continue
			}
			for m := range named.Methods() {
				if m.Exported() && !used[m] && !satisfies(named, m) && !slices.Contains(forTests, p.PkgPath+"."+name+"."+m.Name()) {
					t.Errorf("%s: %s.%s.%s is exported, and no production code uses it", p.Fset.Position(m.Pos()), p.Name, name, m.Name())
				}
			}
		}
	}
}
