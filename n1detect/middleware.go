package n1detect

import (
	"log/slog"
	"math/rand/v2"
	"net/http"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// MiddlewareConfig configures Middleware. The zero value checks every
// request with the thresholds for live traffic (five repeats from one call
// site that took 50 ms or more in total) and logs to slog.Default().
type MiddlewareConfig struct {
	// Config sets the thresholds and allow-list. When both Threshold and
	// MinTotal are zero, they are five repeats and 50 ms.
	Config Config
	// SampleRate is the fraction of requests checked, in (0, 1]; zero means 1.
	SampleRate float64
	// Logger receives one warning per finding. Nil means slog.Default().
	Logger *slog.Logger
	// Route names a request in findings and logs. Nil means the pattern the
	// request matched in http.ServeMux (Go 1.22+), else METHOD + path.
	Route func(*http.Request) string
	// OnFindings, when set, also receives each checked request's findings.
	OnFindings func(r *http.Request, findings []Finding)
}

// Middleware checks each (sampled) request for N+1 patterns: it runs the
// handler with a scope in the request's context, and afterwards logs every
// finding through slog with the route and records it in the statistics of
// the pgxperf tracers that served the request (so pgxperf.Pool's report
// lists it). It never changes or fails a response, and a request that is
// not sampled costs one random number. OnFindings and the logger are called
// on the request's goroutine, after the handler returned (or panicked).
func Middleware(cfg MiddlewareConfig) func(http.Handler) http.Handler {
	if cfg.Config.Threshold == 0 && cfg.Config.MinTotal == 0 {
		base := productionConfig()
		base.Allow, base.RedactArgs, base.MaxGroups = cfg.Config.Allow, cfg.Config.RedactArgs, cfg.Config.MaxGroups
		cfg.Config = base
	}
	rate := cfg.SampleRate
	if rate <= 0 || rate > 1 {
		rate = 1
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rate < 1 && rand.Float64() >= rate {
				next.ServeHTTP(w, r)
				return
			}
			ctx, scope := Start(r.Context(), "", cfg.Config)
			r = r.WithContext(ctx)
			defer func() {
				// Report even when the handler panics; the panic goes on.
				name := route(cfg, r)
				scope.setName(name)
				findings := scope.Finish()
				if len(findings) == 0 {
					return
				}
				logger := cfg.Logger
				if logger == nil {
					logger = slog.Default()
				}
				for _, f := range findings {
					attrs := []slog.Attr{
						slog.String("route", name),
						slog.String("kind", string(f.Kind)),
						slog.String("id", f.ID),
						slog.Int("count", f.Count),
						slog.Duration("total", f.Total),
						slog.String("caller", f.CallSite.String()),
						slog.String("sql", sqlinfo.OneLine(sqlinfo.StripLeadingComments(f.Query), 300)),
						slog.String("fix", f.Fix),
					}
					if f.Cached > 0 {
						attrs = append(attrs, slog.Int("cached", f.Cached))
					}
					logger.LogAttrs(r.Context(), slog.LevelWarn, "n+1 query", attrs...)
				}
				if cfg.OnFindings != nil {
					cfg.OnFindings(r, findings)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func route(cfg MiddlewareConfig, r *http.Request) string {
	if cfg.Route != nil {
		return cfg.Route(r)
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + r.URL.Path
}
