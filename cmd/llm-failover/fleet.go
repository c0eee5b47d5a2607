package main

import (
	"fmt"
	"log/slog"

	"github.com/llm-failover/llm-failover/affinity"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fleet"
	"github.com/llm-failover/llm-failover/probe"
	"github.com/llm-failover/llm-failover/processor"
	"github.com/llm-failover/llm-failover/telemetry"
)

// startFleet joins the fleet (docs/fleet.md) when fleet.redis.address is
// set: it returns at once, Redis being reached in the background. claimer
// decides which replica sends each active probe (probes:): the fleet's
// lease, or every replica its own when fleet mode is off. stop gives the
// probe leases back and closes the connections; it is a no-op when fleet
// mode is off.
func startFleet(cfg *config.Config, srv *processor.Server, aff *fleet.AffinityStore, tel *telemetry.Telemetry, log *slog.Logger) (claimer probe.Claimer, stop func(), err error) {
	if !cfg.Fleet.Enabled() {
		return probe.Local{}, func() {}, nil
	}
	password, err := cfg.Fleet.Redis.Password()
	if err != nil {
		return nil, nil, err
	}
	f, err := fleet.New(fleet.Options{Config: cfg.Fleet, Registry: srv.Registry(), Limiter: srv.Limiter(), Affinity: aff, Log: log, Password: password})
	if err != nil {
		return nil, nil, err
	}
	unregister := func() {}
	if tel != nil {
		if unregister, err = f.RegisterMetrics(tel.Meter()); err != nil {
			_ = f.Close()
			return nil, nil, fmt.Errorf("fleet metrics: %w", err)
		}
	}
	f.Start()
	log.Info("fleet mode: sharing breaker state through redis", "address", cfg.Fleet.Redis.Address,
		"replica", f.Replica(), "shared_counting", cfg.Fleet.SharedCounting)
	return f, func() {
		unregister()
		if err := f.Close(); err != nil {
			log.Warn("fleet: close", "error", err.Error())
		}
	}, nil
}

// fleetAffinity is the conversation-affinity store serve gives the server:
// in fleet mode one the fleet shares (nil otherwise: the server makes its
// own).
func fleetAffinity(cfg *config.Config) *fleet.AffinityStore {
	if !cfg.Fleet.Enabled() {
		return nil
	}
	return fleet.NewAffinityStore(affinity.NewLocal(cfg.Affinity.MaxConversations, nil))
}
