// Package layers holds no code: its test checks that gradcouple's packages form
// the one-way stack of DESIGN.md §2. A package may import only packages below
// it; coupling and metrics import only the standard library and gonum; only
// internal/cli imports urfave/cli; only cmd/gradcouple calls os.Exit; no package uses a global random source.
package layers
