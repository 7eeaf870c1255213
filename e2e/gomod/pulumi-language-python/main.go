// A STAND-IN for pulumi-language-python, which the module proxy does not serve (its module,
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, lists no version).
//
// It is our own minimal Python language host over sdk/v3's published gRPC types: the engine
// starts it with its own address, it prints its port, and Run starts the program the way the
// real host does, through Pulumi's pulumi-language-python-exec shim (shipped in the sdk/v3
// module; the build copies it next to this binary). The program runs in the virtualenv that
// Pulumi.yaml's runtime options name. Only what `preview`, `up`, `destroy` and `refresh` use is
// implemented; dependency installation and code generation are left to the real host.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is stamped with -ldflags: the sdk/v3 release whose protocol this host speaks.
var version = "0.0.0-dev"

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

// python returns the interpreter of the virtualenv named in the runtime options
// (relative to the project root), or python3 from PATH.
func python(info *pulumirpc.ProgramInfo) string {
	if info != nil && info.Options != nil {
		if venv, ok := info.Options.AsMap()["virtualenv"].(string); ok && venv != "" {
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.RootDirectory, venv)
			}
			return filepath.Join(venv, "bin", "python")
		}
	}
	return "python3"
}

// plugins lists the resource plugins the installed Pulumi packages declare in their
// pulumi-plugin.json, as the real host does, so the engine loads the versions they request.
func plugins(info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	out, err := exec.Command(python(info), "-c",
		"import site,sys; print('\\n'.join(site.getsitepackages()))").Output()
	if err != nil {
		return nil, fmt.Errorf("listing site-packages: %w", err)
	}
	var deps []*pulumirpc.PackageDependency
	for _, dir := range strings.Fields(string(out)) {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "pulumi-plugin.json"))
		for _, file := range files {
			var meta struct {
				Resource bool   `json:"resource"`
				Name     string `json:"name"`
				Version  string `json:"version"`
				Server   string `json:"server"`
			}
			data, err := os.ReadFile(file)
			if err != nil || json.Unmarshal(data, &meta) != nil || !meta.Resource || meta.Name == "" {
				continue
			}
			if meta.Version != "" && !strings.HasPrefix(meta.Version, "v") {
				meta.Version = "v" + meta.Version
			}
			deps = append(deps, &pulumirpc.PackageDependency{
				Kind: "resource", Name: meta.Name, Version: meta.Version, Server: meta.Server,
			})
		}
	}
	return deps, nil
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := plugins(req.Info)
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, err
}

func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := plugins(req.Info)
	var out []*pulumirpc.PluginDependency
	for _, d := range deps {
		out = append(out, &pulumirpc.PluginDependency{Kind: d.Kind, Name: d.Name, Version: d.Version, Server: d.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: out}, err
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	shim := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	program := "."
	root := req.Pwd
	if req.Info != nil {
		program, root = req.Info.ProgramDirectory, req.Info.RootDirectory
		if req.Info.EntryPoint != "" && req.Info.EntryPoint != "." {
			program = filepath.Join(program, req.Info.EntryPoint)
		}
	}
	args := []string{"-u", shim,
		"--monitor", req.MonitorAddress, "--engine", h.engineAddress,
		"--project", req.Project, "--stack", req.Stack, "--pwd", req.Pwd,
		"--root_directory", root, "--parallel", strconv.Itoa(int(req.Parallel)),
		"--dry_run", strconv.FormatBool(req.DryRun),
	}
	if req.Organization != "" {
		args = append(args, "--organization", req.Organization)
	}
	args = append(args, program)
	args = append(args, req.Args...)
	config, err := json.Marshal(req.Config)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.ConfigSecretKeys)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python(req.Info), args...)
	cmd.Dir = req.Pwd
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_PROJECT="+req.Project,
		"PULUMI_STACK="+req.Stack,
		"PULUMI_ORGANIZATION="+req.Organization,
		"PULUMI_DRY_RUN="+strconv.FormatBool(req.DryRun),
		"PULUMI_PARALLEL="+strconv.Itoa(int(req.Parallel)),
		"PULUMI_MONITOR="+req.MonitorAddress,
		"PULUMI_ENGINE="+h.engineAddress,
		"PYTHONUNBUFFERED=1",
	)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			// The program printed its own error (the engine shows it); exit 32 means it already
			// reported a diagnostic, so bail without another message, as the real host does.
			if exit.ExitCode() == 32 {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with code %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards a plugin's output to the engine as RunPluginResponse messages.
type streamWriter struct {
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	stderr bool
	mu     *sync.Mutex
}

func (w streamWriter) Write(p []byte) (int, error) {
	data := append([]byte(nil), p...)
	response := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: data}}
	if w.stderr {
		response = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: data}}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.server.Send(response); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin runs a Python plugin (a policy pack) from its directory with the virtualenv its
// PulumiPolicy.yaml names; the pack prints its port on stdout, which goes back to the engine.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	program := req.Pwd
	if req.Info != nil && req.Info.ProgramDirectory != "" {
		program = req.Info.ProgramDirectory
	}
	cmd := exec.CommandContext(server.Context(), python(req.Info), append([]string{"-u", program}, req.Args...)...)
	cmd.Dir = req.Pwd
	cmd.Env = append(os.Environ(), req.Env...)
	mu := &sync.Mutex{}
	cmd.Stdout = streamWriter{server: server, mu: mu}
	cmd.Stderr = streamWriter{server: server, stderr: true, mu: mu}
	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = int32(exit.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-python [flags] ENGINE_ADDRESS")
		os.Exit(2)
	}
	h := &host{engineAddress: os.Args[len(os.Args)-1]} // the engine's address comes last
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
