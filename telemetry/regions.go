package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// regionInst are the instruments of tiers and regions: which target leads
// each plan (the realised weight split), and each region's outage.
type regionInst struct {
	selected     metric.Int64Counter
	outages      metric.Int64Counter
	regionOutage metric.Int64ObservableGauge
	regionShare  metric.Float64ObservableGauge
}

func (in *regionInst) init(m metric.Meter) error {
	var errs []error
	var err error
	in.selected, err = m.Int64Counter(MetricTargetSelected,
		metric.WithDescription("Plans led by each target (its first attempt), by chain, provider and model: the realised split of a tier's weights."))
	errs = append(errs, err)
	in.outages, err = m.Int64Counter(MetricRegionOutages,
		metric.WithDescription("Regional outages started, by region."))
	errs = append(errs, err)
	in.regionOutage, err = m.Int64ObservableGauge(MetricRegionOutage,
		metric.WithDescription("1 while a region is in outage (its share of open targets reached routing.regional_outage_share), else 0."))
	errs = append(errs, err)
	in.regionShare, err = m.Float64ObservableGauge(MetricRegionOpenShare,
		metric.WithDescription("Share of a region's targets whose breakers are open or half-open."))
	errs = append(errs, err)
	return errors.Join(errs...)
}

// RegionGauge is one region as the gauges show it.
type RegionGauge struct {
	Region        string
	Open, Targets int
	Outage        bool
}

// observeRegions observes each region regions yields.
func (in *regionInst) observeRegions(o metric.Observer, regions func(yield func(RegionGauge))) {
	if regions == nil {
		return
	}
	regions(func(r RegionGauge) {
		set := metric.WithAttributes(labelRegion.String(Sanitize(r.Region)))
		v := int64(0)
		if r.Outage {
			v = 1
		}
		o.ObserveInt64(in.regionOutage, v, set)
		if r.Targets > 0 {
			o.ObserveFloat64(in.regionShare, float64(r.Open)/float64(r.Targets), set)
		}
	})
}

// CountSelected counts a plan on chain led by provider/model.
func (t *Telemetry) CountSelected(chain, provider, model string) {
	t.inst.selected.Add(context.Background(), 1, metric.WithAttributes(labelChain.String(Sanitize(chain)),
		labelProvider.String(Sanitize(provider)), labelModel.String(Sanitize(model))))
}

// CountRegionOutage counts a regional outage's start.
func (t *Telemetry) CountRegionOutage(region string) {
	t.inst.outages.Add(context.Background(), 1, metric.WithAttributes(labelRegion.String(Sanitize(region))))
}
