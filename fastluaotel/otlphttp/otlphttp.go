// Package otlphttp makes the fastluaotel tracer of a program that sends its spans to an
// OTLP/HTTP collector: the exporter, a batch span processor, the service's resource and W3C
// Trace Context propagation, in one call. It is its own package so that fastluaotel does not
// carry the OTLP exporter for programs that export otherwise. The gateway's -otlp and the edge
// example's EDGE_OTLP_URL use it.
package otlphttp

import (
	"context"
	"fmt"
	"net/url"

	"github.com/fastlua/fastlua/fastluaotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// New returns the tracer that exports to endpoint, an http:// or https:// URL (the path
// /v1/traces when it has none), as the service service (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override it), and the function that flushes and stops it (call it
// after Middleware.Close, so that the queued scripts' spans go too). It also sets the global
// tracer provider and the W3C Trace Context propagator. An endpoint that is no such URL is an
// error that quotes it.
func New(endpoint, service string) (*fastluaotel.Tracer, func(context.Context) error, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("%q is not an http:// or https:// URL", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, nil, err
	}
	res, err := resource.New(context.Background(), resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prop := propagation.TraceContext{}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	return fastluaotel.New(fastluaotel.Config{TracerProvider: tp, Propagator: prop}), tp.Shutdown, nil
}
