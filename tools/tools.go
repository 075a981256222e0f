// Package tools holds nothing: its module lists the programs the build
// runs (task, the protobuf generators) as tool dependencies, so that they
// stay out of the product's module graph.
package tools
