package main

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

// EDGE_OTLP_URL: the scripts' spans (fastluaotel) go to an OTLP/HTTP collector through a batch span
// processor, which Shutdown flushes; traceparent is read and written as W3C Trace Context.

// newTracing returns the tracer that exports to endpoint, an http:// or https:// URL (the path
// /v1/traces when it has none), as the service service (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override it), and the function that flushes and stops it.
func newTracing(endpoint, service string) (*fastluaotel.Tracer, func(context.Context) error, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("EDGE_OTLP_URL=%q is not an http:// or https:// URL", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("EDGE_OTLP_URL: %w", err)
	}
	res, err := resource.New(context.Background(), resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, fmt.Errorf("EDGE_OTLP_URL: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prop := propagation.TraceContext{}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	return fastluaotel.New(fastluaotel.Config{TracerProvider: tp, Propagator: prop}), tp.Shutdown, nil
}
