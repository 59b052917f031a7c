package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pluginhost"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// Source is one configured source and its connector, checked.
type Source struct {
	Config   *config.Source
	Client   sdk.Client
	Host     *pluginhost.Host // nil for an injected client
	Desc     sdk.Description
	Identity sdk.Identity
	Schema   sdk.Schema
	// Filters holds each entity's parsed filter (nil = none).
	Filters map[string]filter.Expr

	// idMu guards the last resolution of the users' logins (identities.go).
	idMu           sync.Mutex
	resolved       map[string]config.Identity // by user name
	identityErrors []IdentityError
}

// Sources holds every source of the config.
type Sources struct {
	mu     sync.RWMutex
	byName map[string]*Source
	order  []string

	log     hclog.Logger
	timeout time.Duration
	// storeMu makes writes of resolved identities one at a time.
	storeMu sync.Mutex
}

// SourceOptions say how to reach connectors.
type SourceOptions struct {
	// Clients, when it has an entry for a source, is used instead of
	// launching that source's plugin (tests, benchmarks, the demo).
	Clients map[string]sdk.Client
	Logger  hclog.Logger
	Metrics *pluginhost.Metrics
	// Timeout bounds the checks of one source (default 1 minute).
	Timeout time.Duration
	// Env lists extra "KEY=value" variables for the plugin processes.
	Env []string
}

// StartSources launches and checks every source, and resolves the users'
// logins on it (see identities.go). Problems of all sources
// are reported together, each naming the source, and with file:line when a
// config position is known; the plugins already started are stopped.
func StartSources(ctx context.Context, cfg *config.Config, opts SourceOptions) (*Sources, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	bins, discoverErr := discover(cfg, opts.Clients)
	s := &Sources{byName: map[string]*Source{}, log: log, timeout: opts.Timeout}
	var errs []error
	for i := range cfg.Sources {
		sc := &cfg.Sources[i]
		src, err := startSource(ctx, cfg, sc, bins, opts, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.byName[sc.Name] = src
		s.order = append(s.order, sc.Name)
	}
	if len(errs) > 0 {
		if discoverErr != nil {
			errs = append([]error{discoverErr}, errs...)
		}
		s.Stop()
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// discover finds the plugin binaries the sources need.
func discover(cfg *config.Config, injected map[string]sdk.Client) (map[string]pluginhost.Binary, error) {
	needed := false
	for _, sc := range cfg.Sources {
		if _, ok := injected[sc.Name]; !ok {
			needed = true
		}
	}
	bins := map[string]pluginhost.Binary{}
	if !needed {
		return bins, nil
	}
	var specs []pluginhost.Spec
	for _, p := range cfg.Plugins {
		specs = append(specs, pluginhost.Spec{Name: p.Name, Path: p.Path, SHA256: p.SHA256})
	}
	found, err := pluginhost.Discover(cfg.Hub.PluginDir, specs)
	for _, b := range found {
		bins[b.Name] = b
	}
	return bins, err
}

func startSource(ctx context.Context, cfg *config.Config, sc *config.Source, bins map[string]pluginhost.Binary,
	opts SourceOptions, log hclog.Logger) (*Source, error) {
	src := &Source{Config: sc, Filters: map[string]filter.Expr{}}
	if c, ok := opts.Clients[sc.Name]; ok {
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		err := c.Configure(cctx, sdk.ConfigureRequest{Source: sc.Name, Config: sc.Config})
		cancel()
		if err != nil {
			return nil, config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: connector refused its config", sc.Name), err.Error())
		}
		src.Client = c
	} else {
		bin, ok := bins[sc.Plugin]
		if !ok {
			return nil, config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: plugin %q not found", sc.Name, sc.Plugin),
				fmt.Sprintf("no plugin binary named %q in %s and no plugin block for it", sc.Plugin, cfg.Hub.PluginDir))
		}
		h := pluginhost.New(pluginhost.Options{Source: sc.Name, Binary: bin, Config: sc.Config,
			CallTimeout: cfg.Hub.CallTimeout, MaxRestarts: cfg.Hub.MaxRestarts, Logger: log, Metrics: opts.Metrics, Env: opts.Env})
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		err := h.Start(cctx)
		cancel()
		if err != nil {
			h.Stop()
			return nil, config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: plugin %q did not start", sc.Name, sc.Plugin), err.Error())
		}
		src.Host, src.Client = h, h.Client()
	}
	if err := src.check(ctx, opts.Timeout, cfg.Users); err != nil {
		if src.Host != nil {
			src.Host.Stop()
		}
		return nil, err
	}
	src.resolveLogins(ctx, cfg.Users, opts.Timeout, log)
	return src, nil
}

// check asks the connector who it is and what it has, and holds the
// source's entities and the users' logins on it against that.
func (src *Source) check(ctx context.Context, timeout time.Duration, users []config.User) error {
	sc := src.Config
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	if src.Desc, err = src.Client.Describe(ctx); err != nil {
		return config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: Describe failed", sc.Name), err.Error())
	}
	if !src.Desc.Has(sdk.CapFetch) && len(sc.Entities) > 0 {
		return config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: plugin %q cannot fetch records", sc.Name, sc.Plugin),
			"the source lists entities, but the connector does not implement Fetch")
	}
	if err := src.requireResolver(users); err != nil {
		return err
	}
	chk, err := src.Client.Check(ctx)
	if err != nil {
		return config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: Check failed", sc.Name), err.Error())
	}
	src.Identity = chk.Identity
	names := make([]string, 0, len(sc.Entities))
	for _, e := range sc.Entities {
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		return nil
	}
	if src.Schema, err = src.Client.Schema(ctx, sdk.SchemaRequest{Entities: names}); err != nil {
		var se *sdk.Error
		if errors.As(err, &se) && se.Entity != "" {
			if e, ok := sc.Entity(se.Entity); ok {
				return config.ErrorAt(e.Range, fmt.Sprintf("Source %q: entity %q", sc.Name, se.Entity), err.Error())
			}
		}
		return config.ErrorAt(sc.Range, fmt.Sprintf("Source %q: Schema failed", sc.Name), err.Error())
	}
	var errs []error
	for i := range sc.Entities {
		e := &sc.Entities[i]
		es, _ := src.Schema.Entity(e.Name)
		for _, f := range e.Fields {
			if _, ok := es.Field(f); !ok {
				errs = append(errs, config.ErrorAt(e.Range, fmt.Sprintf("Source %q: entity %q has no field %q", sc.Name, e.Name, f),
					"fields the connector offers: "+fieldNames(es)))
			}
		}
		expr, err := filter.Parse(e.Filter)
		if err != nil {
			errs = append(errs, config.ErrorAt(e.FilterRange, fmt.Sprintf("Source %q: invalid filter of entity %q", sc.Name, e.Name), err.Error()))
			continue
		}
		for _, f := range filter.Fields(expr) {
			if _, ok := es.Field(f); !ok {
				errs = append(errs, config.ErrorAt(e.FilterRange, fmt.Sprintf("Source %q: filter of entity %q names unknown field %q", sc.Name, e.Name, f), ""))
			}
		}
		src.Filters[e.Name] = expr
		if !e.ReadOnly && es.ReadOnly {
			// Not an error: the connector's read-only wins; say so in the log.
			e.ReadOnly = true
		}
	}
	return errors.Join(errs...)
}

func fieldNames(es sdk.EntitySchema) string {
	names := make([]string, 0, len(es.Fields))
	for _, f := range es.Fields {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if len(names) > 30 {
		return fmt.Sprintf("%v ... (%d in all)", names[:30], len(names))
	}
	return fmt.Sprint(names)
}

// Get returns the named source.
func (s *Sources) Get(name string) (*Source, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	src, ok := s.byName[name]
	return src, ok
}

// Names lists the sources in config order.
func (s *Sources) Names() []string { return append([]string(nil), s.order...) }

// Client returns a source's connector.
func (s *Sources) Client(name string) (sdk.Client, error) {
	src, ok := s.Get(name)
	if !ok {
		return nil, fmt.Errorf("unknown source %q", name)
	}
	return src.Client, nil
}

// Stop stops every plugin.
func (s *Sources) Stop() {
	for _, src := range s.byName {
		if src.Host != nil {
			src.Host.Stop()
		}
	}
}

// schema returns a source's checked schema.
func (s *Sources) schema(name string) (sdk.Schema, error) {
	src, ok := s.Get(name)
	if !ok {
		return sdk.Schema{}, fmt.Errorf("unknown source %q", name)
	}
	return src.Schema, nil
}

// describe returns a source's connector description.
func (s *Sources) describe(name string) (sdk.Description, error) {
	src, ok := s.Get(name)
	if !ok {
		return sdk.Description{}, fmt.Errorf("unknown source %q", name)
	}
	return src.Desc, nil
}
