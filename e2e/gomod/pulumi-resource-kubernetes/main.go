// The provider's own cmd/pulumi-resource-kubernetes embeds schema files that its repository
// generates and ignores, so that package does not build from the module zip. This main does
// the same with the committed schema.json and terraform-mapping.json, which the build
// script copies from the module next to this file in its build folder (never into the repo).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var pulumiSchema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
