// Package layering holds no code: its test reads the imports of every Go
// file in the module and fails when a package reaches past the layer it
// belongs to (the API around the domain to the store, the client into the
// server, the domain into generated code or net/http). The rules are in
// layering_test.go.
package layering
